/**
 * The gateway's parse and per-item stages (bench/gateway-stages.ts without Kafka) of two checkouts of vigil, timed
 * in one process that alternates them round by round: the machine's drift and other load land on both alike, so
 * a change of a few percent shows where separate runs of gateway-stages.ts cannot resolve it. 100-event bodies of
 * the contract's event shape, one request at a time, CPU time (process.cpuUsage) per event; the records are encoded
 * and handed to a producer that only counts their bytes.
 *
 *   node --import tsx bench/gateway-items-ab.ts --base /path/to/other/checkout [--rounds 9] [--requests 2000]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadGatewayCheckout } from './gateway-checkout.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '9' },
    requests: { type: 'string', default: '2000' },
  },
});
if (!values.base) throw new Error('--base <checkout> is required: the vigil checkout to compare with');
const ROUNDS = Number(values.rounds);
const REQUESTS = Number(values.requests);
const SIZE = 100;
const WARM_UP = 300;

interface Stages {
  root: string;
  parse: () => unknown;
  ingest: () => Promise<unknown>;
  /** Avro bytes per event the checkout encoded so far (the two must encode the same records). */
  bytesPerEvent: () => number;
}

async function load(root: string): Promise<Stages> {
  const { config, kind, metrics, parseBody, ingest, maxItemValues } = await loadGatewayCheckout(root);
  const { contractEvent } = await import(`${root}/bench/bench-topics.ts`);
  const body = Buffer.from(JSON.stringify(Array.from({ length: SIZE }, (_, i) => contractEvent(i))));
  const limits = { maxBytes: config.ingest.bodyLimitBytes, maxItems: 5000, maxItemValues };
  let bytes = 0;
  let events = 0;
  const producer = {
    publish: async (_topic: string, _headers: unknown, items: { value: Uint8Array }[]) => {
      for (const item of items) bytes += item.value.length;
      events += items.length;
    },
  };
  const parse = () => parseBody('application/json', body, limits, kind);
  return {
    root,
    parse,
    ingest: () =>
      ingest(
        kind,
        { body: parse(), requestId: 'r', requestIdGiven: true, createdBy: 'bench' },
        { producer, metrics, maxBatchItems: 5000 },
      ),
    bytesPerEvent: () => bytes / events,
  };
}

/** CPU microseconds per event of `requests` calls of `run`, one after the other. */
async function cpuPerEvent(run: () => unknown, requests: number): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < requests; i++) await run();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / (requests * SIZE);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const checkouts = [await load(path.resolve(values.base)), await load(path.resolve(import.meta.dirname, '..'))];
for (const c of checkouts) await cpuPerEvent(c.ingest, WARM_UP);
const figures = checkouts.map(() => ({ parse: [] as number[], full: [] as number[] }));
for (let round = 0; round < ROUNDS; round++) {
  for (const [k, c] of checkouts.entries()) {
    figures[k].parse.push(await cpuPerEvent(c.parse, REQUESTS));
    figures[k].full.push(await cpuPerEvent(c.ingest, REQUESTS));
  }
}

console.log(`\nCPU per event, ${ROUNDS} alternating rounds of ${REQUESTS} requests of ${SIZE} events (median, µs):\n`);
console.log('| checkout | splitting + JSON.parse | + per-item work | of which per-item work | Avro bytes per event |');
console.log('|---|---|---|---|---|');
for (const [k, c] of checkouts.entries()) {
  const { parse, full } = figures[k];
  const perItem = full.map((f, i) => f - parse[i]);
  console.log(
    `| ${c.root} | ${median(parse).toFixed(2)} | ${median(full).toFixed(2)} | ${median(perItem).toFixed(2)} | ` +
      `${c.bytesPerEvent().toFixed(1)} |`,
  );
}
