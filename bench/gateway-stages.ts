/**
 * Where a gateway's CPU goes, per event: JSON.parse of a 100-event body, the gateway's per-item work (request id,
 * redaction, depth bound, validation, UUIDv7, Avro) and producing the records through BatchingProducer (KafkaJS,
 * acks=all, local broker). Measured in CPU time of this process (process.cpuUsage), not wall time, so that other
 * load on a shared machine changes the figures less; the produce stage still includes waiting for a contended broker
 * only as idle time, which CPU time does not count.
 *
 *   node --import tsx bench/gateway-stages.ts [--requests 2000]
 */
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { BatchingProducer } from '../shared/kafka/producer.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { createLogger } from '../shared/logger.ts';
import { Registry } from '../shared/metrics.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { parseBody } from '../services/gateway/body.ts';
import { ingest } from '../services/gateway/ingest.ts';
import { eventKind } from '../services/gateway/kinds.ts';
import { createGatewayMetrics } from '../services/gateway/metrics.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' } } });
const requests = Number(values.requests);
const SIZE = 100;
const CONCURRENCY = 16;

const id = crypto.randomBytes(4).toString('hex');
const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn', KAFKA_TOPIC_EVENTS: `bench.${id}.events`, KAFKA_TOPIC_METRICS: `bench.${id}.metrics`, KAFKA_TOPIC_DLQ: `bench.${id}.dlq` });
const kafka = createKafka(config.kafka, createLogger('warn', 'bench-stages'), 'bench');
await ensureTopics(kafka, config.kafka);
const producer = new BatchingProducer(kafka, { timeoutMs: 30_000 });
await producer.connect();
const codecs = loadCodecs();
const kind = eventKind(config, codecs.get('Event')!, codecs.get('EventBundle')!);
const metrics = createGatewayMetrics(new Registry());
const body = Buffer.from(JSON.stringify(Array.from({ length: SIZE }, (_, i) => ({
  event_type: 'log',
  source: `web-server-${i % 10}`,
  message: 'Request processed successfully',
  level: 'info',
  tags: { service: 'api', environment: 'production', request_id: `req-${i}` },
  payload: { duration_ms: 245, path: '/api/users', status: 200 },
}))));
const discard = { publish: async () => {} } as unknown as BatchingProducer;

const stages: Array<[string, () => Promise<unknown>]> = [
  ['JSON.parse of the body', async () => parseBody('application/json', body)],
  ['+ per-item work (validation, redaction, ids, Avro)', () => ingest(kind, { body: parseBody('application/json', body), requestId: 'r', createdBy: 'bench' }, { producer: discard, metrics, maxBatchItems: 5000 })],
  ['+ produce (BatchingProducer, KafkaJS, acks=all)', () => ingest(kind, { body: parseBody('application/json', body), requestId: 'r', createdBy: 'bench' }, { producer, metrics, maxBatchItems: 5000 })],
];

const rows: string[] = [];
let previous = 0;
for (const [name, run] of stages) {
  await runMany(run, Math.min(200, requests)); // warm-up
  const started = process.cpuUsage();
  await runMany(run, requests);
  const used = process.cpuUsage(started);
  const micros = (used.user + used.system) / (requests * SIZE);
  rows.push(`| ${name} | ${micros.toFixed(1)} µs | ${(micros - previous).toFixed(1)} µs | ${Math.round(1e6 / micros).toLocaleString('en-US')} |`);
  previous = micros;
}
await producer.close();
await deleteTopics(kafka, [config.kafka.topics.events, config.kafka.topics.metrics, config.kafka.topics.dlq]);

console.log(`\nCPU per event, ${requests} requests of ${SIZE} events (${body.length} bytes), ${CONCURRENCY} in flight:\n`);
console.log('| stage (cumulative) | CPU per event | of which this stage | events per CPU-second |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(row);

async function runMany(run: () => Promise<unknown>, count: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next++ < count) await run();
  }));
}
