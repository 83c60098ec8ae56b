/**
 * Benchmark (a): the writer draining a pre-filled topic vs a raw pg-copy-streams COPY of the same kind of rows into
 * vigil's own tables (target: the writer ≥ 70% of raw), side by side in one run, on an empty table and again once
 * the table holds ≥ BENCH_FILL_ROWS rows (default 5M). Rounds alternate raw / writer; medians are reported.
 *
 *   node --import tsx bench/writer-drain.ts
 *   BENCH_ROWS=300000 BENCH_ROUNDS=2 BENCH_FILL_ROWS=5000000 node --import tsx bench/writer-drain.ts
 *
 * Raw COPY: rows preformatted outside the timing (the writer's own formatter), 5,000 rows per COPY, one transaction
 * each, on 1 and on 2 connections. Writer: the real role (startRuntime), WRITER_BATCH_MAX_ROWS=5000,
 * WRITER_CONCURRENCY=2, reading Avro bundles of events per partition (as the gateway writes them, through its own
 * BatchingProducer) from a 6-partition topic, and in alternation the same rows as one Avro record per event (the
 * form before bundles); the rate is counted from the first stored batch to the last (group join excluded), the
 * CPU per row is this process's (the writer role) over the same span.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { Partitioners, type Kafka } from 'kafkajs';
import { loadConfig } from '../shared/config.ts';
import { kafkajsClient } from '../test/helpers/kafkajs.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { keyPartition } from '../shared/kafka/partitioner.ts';
import { BatchingProducer } from '../shared/kafka/producer.ts';
import { RecordSeal } from '../shared/kafka/seal.ts';
import type { EventRecord } from '../shared/schemas/event.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { createLogger } from '../shared/logger.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { startRuntime } from '../bin/runtime.ts';
import {
  asDeployed,
  copyChunks,
  describeSize,
  EVENT_COLUMNS,
  fillTo,
  fmt,
  freshDatabase,
  makeEvents,
  median,
  rawCopy,
  tableSize,
  writerBenchEnv,
} from './writer-lib.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 300_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const FILL_ROWS = Number(process.env.BENCH_FILL_ROWS ?? 5_000_000);
const SEAL_SECRET_BYTES = 48;
const log = (line: string) => console.error(`[writer-drain] ${line}`);

await asDeployed(); // the writer below runs in this process, with the flags `npm start` gives it
const url = await freshDatabase('vigil_bench_writer');
const logger = createLogger('warn');
const codecs = loadCodecs();
const codec = codecs.get('Event')!;
const bundle = codecs.get('EventBundle')!;
const baseEnv = writerBenchEnv(url);
// BENCH_SEAL=1: the bundles sealed as the gateway seals them, and the writer given the secret (KAFKA_SEAL_SECRET).
if (process.env.BENCH_SEAL === '1')
  baseEnv.KAFKA_SEAL_SECRET = crypto.randomBytes(SEAL_SECRET_BYTES).toString('base64');

type Form = 'bundles' | 'single';

/**
 * Fills the topic as the gateway writes it: bundles per partition (of the events' sources) through the gateway's
 * own BatchingProducer, from publishes of 1,000 events, 4 at a time (like bench/writer-e2e.ts's load of 1,000-event
 * requests); or, for contrast, one Avro Event record per event (the gateway's form before bundles, still valid for
 * direct producers).
 */
async function prefill(topic: string, count: number, form: Form): Promise<void> {
  const config = loadConfig({
    ...baseEnv,
    KAFKA_TOPIC_EVENTS: topic,
    KAFKA_TOPIC_METRICS: `${topic}.m`,
    KAFKA_TOPIC_DLQ: `${topic}.dlq`,
  });
  const kafka = createKafka(config.kafka, 'bench');
  await ensureTopics(kafka, config.kafka);
  const events = makeEvents(count, Date.now() - 600_000);
  if (form === 'single') return prefillSingle(kafkajsClient(config.kafka.brokers, 'bench'), topic, events);
  const seal = RecordSeal.of(config.kafka.sealSecret);
  const producer = new BatchingProducer(kafka, { timeoutMs: 60_000, seal });
  await producer.connect();
  const headers = { 'vigil-schema': bundle.schemaId, 'vigil-producer': 'gateway' };
  for (let i = 0; i < events.length; i += 4000) {
    const publishes = [0, 1, 2, 3]
      .map((j) => events.slice(i + j * 1000, i + (j + 1) * 1000))
      .filter((part) => part.length > 0);
    await retrying(() =>
      Promise.all(
        publishes.map((part) =>
          producer.publish(
            topic,
            headers,
            part.map((e) => ({ into: keyPartition(e.source, config.kafka.partitions), value: codec.encode(e) })),
          ),
        ),
      ),
    );
  }
  await producer.close();
}

async function prefillSingle(kafka: Kafka, topic: string, events: EventRecord[]): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let i = 0; i < events.length; i += 5000) {
    const messages = events.slice(i, i + 5000).map((e) => ({
      key: e.source,
      value: codec.encode(e),
      headers: { 'vigil-schema': codec.schemaId, 'vigil-producer': 'gateway' },
    }));
    await retrying(() => producer.send({ topic, acks: -1, messages }));
  }
  await producer.disconnect();
}

/** Leadership of a fresh topic can still move on a busy broker: retry rather than lose the run. */
async function retrying(work: () => Promise<unknown>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await work();
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function writerRound(form: Form): Promise<{ rate: number; cpu: number }> {
  const topic = `bench.${crypto.randomBytes(4).toString('hex')}.events`;
  await prefill(topic, ROWS, form);
  const env = {
    ...baseEnv,
    KAFKA_TOPIC_EVENTS: topic,
    KAFKA_TOPIC_METRICS: `${topic}.m`,
    KAFKA_TOPIC_DLQ: `${topic}.dlq`,
    WRITER_GROUP_ID: `bench-${topic}`,
  };
  const config = loadConfig({ ...env, VIGIL_ROLES: 'writer' });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  // Rows the writer stored (offsets count records, and a record is a bundle).
  const rows = async () =>
    Number(
      (await db.query<{ n: string }>("SELECT coalesce(sum(count), 0) AS n FROM ingest_totals WHERE kind = 'event'"))
        .rows[0].n,
    );
  const before = await rows();
  const runtime = await startRuntime(config, logger);
  let first = 0;
  let firstAt = 0;
  let cpuAt = process.cpuUsage();
  for (;;) {
    const n = (await rows()) - before;
    if (n > 0 && firstAt === 0) [first, firstAt, cpuAt] = [n, performance.now(), process.cpuUsage()];
    if (n >= ROWS) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const rate = (ROWS - first) / ((performance.now() - firstAt) / 1000);
  // CPU of this process (the writer role, plus this loop's polling) per row stored.
  const used = process.cpuUsage(cpuAt);
  const cpu = (used.user + used.system) / (ROWS - first);
  await runtime.stop();
  await db.end();
  await deleteTopics(createKafka(config.kafka, 'bench'), [topic, `${topic}.m`, `${topic}.dlq`]).catch(() => {});
  return { rate, cpu };
}

async function rawRound(connections: number): Promise<number> {
  const chunks = copyChunks(makeEvents(ROWS, Date.now() - 600_000), 5000);
  return rawCopy(url, 'events', EVENT_COLUMNS, chunks, ROWS, connections);
}

async function measure(label: string): Promise<string> {
  const before = await tableSize(url, 'events');
  const raw1: number[] = [];
  const raw2: number[] = [];
  const writer: number[] = [];
  const cpu: number[] = [];
  const single: number[] = [];
  const singleCpu: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    raw1.push(await rawRound(1));
    raw2.push(await rawRound(2));
    const bundles = await writerRound('bundles');
    writer.push(bundles.rate);
    cpu.push(bundles.cpu);
    const one = await writerRound('single');
    single.push(one.rate);
    singleCpu.push(one.cpu);
    log(
      `${label} round ${round + 1}: raw×1 ${fmt(r(raw1))}, raw×2 ${fmt(r(raw2))}, writer ${fmt(bundles.rate)} ` +
        `(${bundles.cpu.toFixed(1)} µs CPU per row), one record per event ${fmt(one.rate)} (${one.cpu.toFixed(1)} µs)`,
    );
  }
  const after = await tableSize(url, 'events');
  const [r1, r2, w] = [median(raw1), median(raw2), median(writer)];
  return (
    `| ${label} | ${describeSize(before)} → ${describeSize(after)} | ${fmt(r1)} | ${fmt(r2)} ` +
    `| ${fmt(w)} (${median(cpu).toFixed(1)} µs) | ${fmt(median(single))} (${median(singleCpu).toFixed(1)} µs) ` +
    `| ${Math.round((100 * w) / r1)}% | ${Math.round((100 * w) / r2)}% |`
  );
}

const r = (values: number[]) => values[values.length - 1];

const lines = [
  `writer-drain: ${ROWS.toLocaleString('en-US')} rows per measurement, median of ${ROUNDS} rounds`,
  '| table | events table size (before → after) | raw COPY, 1 conn | raw COPY, 2 conns | writer, bundles (CPU per ' +
    'row) | writer, one record per event (CPU per row) | writer (bundles) / raw×1 | writer (bundles) / raw×2 |',
  '|---|---|---|---|---|---|---|---|',
];
lines.push(await measure('empty'));
log(`filling events to ${FILL_ROWS.toLocaleString('en-US')} rows`);
await fillTo(url, 'events', FILL_ROWS, Date.now() - 600_000, log);
lines.push(await measure(`≥ ${(FILL_ROWS / 1e6).toFixed(0)}M rows`));
console.log(lines.join('\n'));
process.exit(0);
