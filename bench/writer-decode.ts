/**
 * The writer's per-row work without Kafka or PostgreSQL, side by side across source trees: the events sink's
 * decode of Avro bundles (decode, validation, redaction, COPY row formatting: services/writer/sinks.ts) of 20
 * records at a time into the bytes the COPY stream sends — rows written into one buffer per batch where the tree
 * does that (binary COPY), else the COPY text of the rows joined and written to bytes — in CPU time of this process
 * per row. Each tree is a checkout of vigil (this one, or e.g. a detached worktree of an older commit with
 * node_modules linked); its modules are loaded from there, and rounds alternate between the trees.
 *
 *   BENCH_TREES=/path/to/old,/path/to/other,. BENCH_ROWS=100000 BENCH_ROUNDS=12 \
 *     node --import tsx bench/writer-decode.ts
 *
 * Bundles of 250 events per source, as the gateway's BatchingProducer groups them; the events of
 * bench/writer-lib.ts (the contract's shape). Medians per tree, and each tree's median over the first tree's.
 * A tree named `<path>+sealed` (a tree with shared/kafka/seal.ts) gets its bundles sealed as the gateway seals them
 * and the secret (KAFKA_SEAL_SECRET), so its writer stores them without validating them again:
 *   BENCH_TREES=.,.+sealed node --import tsx bench/writer-decode.ts
 */
import path from 'node:path';
import { asDeployed, median } from './writer-lib.ts';

const TREES = (process.env.BENCH_TREES ?? '.').split(',');
const SEALED = '+sealed';
const SEAL_SECRET = 'the writer-decode benchmark seal secret, 32 bytes or more';
const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const BUNDLE_ITEMS = 250;
const RECORDS_PER_COPY = 20;
const SOURCES = 20;

await asDeployed();

interface Decoded {
  rows: { text?: string }[];
  dead: { detail: string }[];
}

interface Tree {
  root: string;
  /** The records' rows as the bytes the COPY stream sends; returns their length. */
  copyBytes: (records: unknown[]) => number;
  records: unknown[];
  cpu: number[];
}

async function load(name: string): Promise<Tree> {
  const sealed = name.endsWith(SEALED);
  const root = path.resolve(sealed ? name.slice(0, -SEALED.length) : name);
  const { loadConfig } = await import(path.join(root, 'shared/config.ts'));
  const { loadCodecs } = await import(path.join(root, 'shared/schemas/avro.ts'));
  const { createSinks } = await import(path.join(root, 'services/writer/sinks.ts'));
  const { CopyRows } = await import(path.join(root, 'services/writer/copy-format.ts'));
  const { makeEvents } = await import(path.join(root, 'bench/writer-lib.ts'));
  const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1/unused', LOG_LEVEL: 'warn' };
  const config = loadConfig(sealed ? { ...env, KAFKA_SEAL_SECRET: SEAL_SECRET } : env);
  const seal = sealed ? new (await import(path.join(root, 'shared/kafka/seal.ts'))).RecordSeal(SEAL_SECRET) : null;
  const codecs = loadCodecs();
  const sink = createSinks(config, codecs)[0];
  const bundle = codecs.get('EventBundle');
  const events: { source: string }[] = makeEvents(ROWS, Date.now() - 600_000);
  const bySource = new Map<string, unknown[]>();
  for (const e of events) {
    const group = bySource.get(e.source);
    if (group === undefined) bySource.set(e.source, [e]);
    else group.push(e);
  }
  const records: unknown[] = [];
  for (const group of bySource.values())
    for (let i = 0; i < group.length; i += BUNDLE_ITEMS) {
      const value = bundle.encode({ events: group.slice(i, i + BUNDLE_ITEMS) });
      const headers: Record<string, string> = { 'vigil-schema': bundle.schemaId, 'vigil-producer': 'gateway' };
      if (seal !== null)
        headers['vigil-seal'] = seal.sign(
          { topic: config.kafka.topics.events, schema: bundle.schemaId, producer: 'gateway' },
          value,
        );
      records.push({ offset: String(records.length), key: null, value, headers, timestamp: String(Date.now()) });
    }
  const decoded = (out: Decoded): Decoded => {
    if (out.dead.length > 0) throw new Error(`${root}: ${out.dead[0].detail}`);
    return out;
  };
  const copyBytes =
    CopyRows === undefined
      ? (batch: unknown[]) => {
          let text = '';
          for (const record of batch) for (const row of decoded(sink.decode(record)).rows) text += row.text;
          return Buffer.from(text).length;
        }
      : (batch: unknown[]) => {
          const rows = new CopyRows();
          for (const record of batch) decoded(sink.decode(record, rows));
          return rows.length;
        };
  return { root: name, copyBytes, records, cpu: [] };
}

function round(tree: Tree): number {
  const started = process.cpuUsage();
  let bytes = 0;
  for (let b = 0; b < tree.records.length; b += RECORDS_PER_COPY)
    bytes += tree.copyBytes(tree.records.slice(b, b + RECORDS_PER_COPY));
  if (bytes === 0) throw new Error('nothing formatted');
  const used = process.cpuUsage(started);
  return (used.user + used.system) / ROWS;
}

const trees: Tree[] = [];
for (const root of TREES) trees.push(await load(root));
if (SOURCES * BUNDLE_ITEMS > ROWS)
  console.error('[writer-decode] few rows: bundles are smaller than the gateway makes');
for (let r = 0; r < ROUNDS; r++)
  for (const tree of r % 2 === 0 ? trees : [...trees].reverse()) tree.cpu.push(round(tree));
const first = median(trees[0].cpu.slice(1));
console.log(
  `writer-decode: ${ROWS.toLocaleString('en-US')} rows per round, median of ${ROUNDS - 1} rounds ` +
    '(the first is warm-up)',
);
console.log('| tree | CPU µs per row (median) | min | vs first |');
console.log('|---|---|---|---|');
for (const tree of trees) {
  const cpu = tree.cpu.slice(1);
  const m = median(cpu);
  console.log(`| ${tree.root} | ${m.toFixed(2)} | ${Math.min(...cpu).toFixed(2)} | ${(m / first).toFixed(2)} |`);
}
process.exit(0);
