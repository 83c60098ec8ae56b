/**
 * Node flags vigil runs with (`npm start`, the Dockerfile, the tests' and benchmarks' role processes): a 32 MiB
 * semi-space (young generation ~3× that) instead of V8's 16 MiB default. Ingest allocates a little per item and drops
 * it one batch later; with the default, much of that survives a scavenge and is copied: the writer spent ~8% more
 * CPU per row (bench/README.md, writer drain). Costs at most ~50 MiB of memory per process.
 */
export const NODE_FLAGS = ['--max-semi-space-size=32'] as const;
