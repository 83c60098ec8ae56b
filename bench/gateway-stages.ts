/**
 * Where a gateway's CPU goes, per event: JSON.parse of a 100-event body, the gateway's per-item work (request id,
 * redaction, depth bound, validation, UUIDv7, Avro) and producing the records through BatchingProducer (its client,
 * acks=all, local broker). Measured in CPU time of this process (process.cpuUsage), not wall time, so that other
 * load on a shared machine changes the figures less; the produce stage still includes waiting for a contended broker
 * only as idle time, which CPU time does not count. Runs under vigil's Node flags (bin/node-flags.ts, re-running itself
 * with them when started without), as the gateway runs; to compare with a checkout whose copy of this script does
 * not, start both with the flags.
 *
 * Events come from 10 sources, or from `--sources N`: requests then cycle through bodies whose events name N
 * sources in turn (how many records a send makes depends on how items are grouped into bundles).
 *
 *   node --import tsx bench/gateway-stages.ts [--requests 2000] [--sources 10]
 */
import { parseArgs } from 'node:util';
import crypto from 'node:crypto';
import { BatchingProducer } from '../shared/kafka/producer.ts';
import { TopicPartitioner } from '../shared/kafka/partitioner.ts';
import { RecordSeal } from '../shared/kafka/seal.ts';
import { Registry } from '../shared/metrics.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { parseBody } from '../services/gateway/body.ts';
import { ingest } from '../services/gateway/ingest.ts';
import { eventKind, maxItemValues } from '../services/gateway/kinds.ts';
import { createGatewayMetrics } from '../services/gateway/metrics.ts';
import { benchTopics, contractEvent } from './bench-topics.ts';
import { asDeployed } from './writer-lib.ts';

await asDeployed();
const { values } = parseArgs({
  options: { requests: { type: 'string', default: '2000' }, sources: { type: 'string', default: '10' } },
});
const requests = Number(values.requests);
const sources = Number(values.sources);
const SIZE = 100;
const CONCURRENCY = 16;
const SEAL_SECRET_BYTES = 48;

const { config, kafka, cleanup } = await benchTopics('bench-stages');
// Records (bundles) Kafka acknowledged and the items in them: how well the produce stage bundled in this run (the
// fewer records per request, the less CPU per event it costs; it depends on how fast the broker acknowledges).
let records = 0;
let bundled = 0;
const producer = new BatchingProducer(kafka, {
  timeoutMs: 30_000,
  // BENCH_SEAL=1: the records sealed, as the gateway seals them when KAFKA_SEAL_SECRET is set.
  seal:
    process.env.BENCH_SEAL === '1' ? new RecordSeal(crypto.randomBytes(SEAL_SECRET_BYTES).toString('base64')) : null,
  onRecord: (_topic, items) => {
    records++;
    bundled += items;
  },
});
await producer.connect();
const codecs = loadCodecs();
const kind = eventKind(
  config,
  codecs.get('Event')!,
  codecs.get('EventBundle')!,
  new TopicPartitioner(producer, config.kafka.topics.events, { waitMs: 30_000 }),
);
const metrics = createGatewayMetrics(new Registry());
const bodies = Array.from({ length: Math.max(1, Math.ceil(sources / SIZE)) }, (_, b) =>
  Buffer.from(JSON.stringify(Array.from({ length: SIZE }, (_, i) => contractEvent(b * SIZE + i, sources)))),
);
let nextBody = 0;
const discard = { publish: async () => {} } as unknown as BatchingProducer;
const limits = { maxBytes: config.ingest.bodyLimitBytes, maxItems: 5000, maxItemValues: maxItemValues(config) };
const parse = () => parseBody('application/json', bodies[nextBody++ % bodies.length], limits, kind);

const stages: Array<[string, () => Promise<unknown>]> = [
  ['splitting + JSON.parse of the body', async () => parse()],
  [
    '+ per-item work (validation, redaction, ids, Avro)',
    () =>
      ingest(
        kind,
        { body: parse(), requestId: 'r', requestIdGiven: true, createdBy: 'bench' },
        { producer: discard, metrics, maxBatchItems: 5000 },
      ),
  ],
  [
    '+ produce (BatchingProducer, @platformatic/kafka, acks=all)',
    () =>
      ingest(
        kind,
        { body: parse(), requestId: 'r', requestIdGiven: true, createdBy: 'bench' },
        { producer, metrics, maxBatchItems: 5000 },
      ),
  ],
];

const rows: string[] = [];
let bundling = '';
let previous = 0;
for (const [name, run] of stages) {
  await runMany(run, Math.min(200, requests)); // warm-up
  records = 0;
  bundled = 0;
  const started = process.cpuUsage();
  await runMany(run, requests);
  const used = process.cpuUsage(started);
  const micros = (used.user + used.system) / (requests * SIZE);
  rows.push(
    `| ${name} | ${micros.toFixed(1)} µs | ${(micros - previous).toFixed(1)} µs | ` +
      `${Math.round(1e6 / micros).toLocaleString('en-US')} |`,
  );
  previous = micros;
  if (records > 0) {
    bundling = `${(records / requests).toFixed(1)} records per request, ${(bundled / records).toFixed(1)} events each`;
  }
}
await producer.close();
await cleanup();

console.log(
  `\nCPU per event, ${requests} requests of ${SIZE} events (${bodies[0].length} bytes) from ${sources} sources, ` +
    `${CONCURRENCY} in flight:\n`,
);
console.log('| stage (cumulative) | CPU per event | of which this stage | events per CPU-second |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(row);
console.log(`\nproduce: ${bundling} on average`);

async function runMany(run: () => Promise<unknown>, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < count) await run();
    }),
  );
}
