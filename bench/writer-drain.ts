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
 * WRITER_CONCURRENCY=2, reading Avro bundles of events per source (as the gateway writes them, through its own
 * BatchingProducer) from a 6-partition topic; the rate is counted from the first stored batch to the last (group
 * join excluded).
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../shared/config.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { BatchingProducer } from '../shared/kafka/producer.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { createLogger } from '../shared/logger.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { startRuntime } from '../bin/runtime.ts';
import { copyChunks, describeSize, EVENT_COLUMNS, fillTo, fmt, freshDatabase, makeEvents, median, rawCopy, tableSize } from './writer-lib.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 300_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const FILL_ROWS = Number(process.env.BENCH_FILL_ROWS ?? 5_000_000);
const log = (line: string) => console.error(`[writer-drain] ${line}`);

const url = await freshDatabase('vigil_bench_writer');
const logger = createLogger('warn');
const codecs = loadCodecs();
const codec = codecs.get('Event')!;
const bundle = codecs.get('EventBundle')!;
const baseEnv = { DATABASE_URL: url, KAFKA_TOPIC_PARTITIONS: '6', WRITER_BATCH_MAX_ROWS: '5000', WRITER_CONCURRENCY: '2', LOG_LEVEL: 'warn', PORT: '0', PARTITION_GRANULARITY: 'day' };

/**
 * Fills the topic as the gateway writes it: bundles per source through the gateway's own BatchingProducer, from
 * publishes of 1,000 events, 4 at a time (like bench/writer-e2e.ts's load of 1,000-event requests).
 */
async function prefill(topic: string, count: number): Promise<void> {
  const config = loadConfig({ ...baseEnv, KAFKA_TOPIC_EVENTS: topic, KAFKA_TOPIC_METRICS: `${topic}.m`, KAFKA_TOPIC_DLQ: `${topic}.dlq` });
  const kafka = createKafka(config.kafka, logger, 'bench');
  await ensureTopics(kafka, config.kafka);
  const producer = new BatchingProducer(kafka, { timeoutMs: 60_000 });
  await producer.connect();
  const headers = { 'vigil-schema': bundle.schemaId, 'vigil-producer': 'gateway' };
  const events = makeEvents(count, Date.now() - 600_000);
  for (let i = 0; i < events.length; i += 4000) {
    const publishes = [0, 1, 2, 3].map((j) => events.slice(i + j * 1000, i + (j + 1) * 1000)).filter((part) => part.length > 0);
    // Leadership of a fresh topic can still move on a busy broker: retry rather than lose the run.
    for (let attempt = 0; ; attempt++) {
      try {
        await Promise.all(publishes.map((part) => producer.publish(topic, headers, part.map((e) => ({ into: e.source, value: codec.encode(e) })))));
        break;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  await producer.close();
}

async function writerRound(): Promise<{ rate: number; cpu: number }> {
  const topic = `bench.${crypto.randomBytes(4).toString('hex')}.events`;
  await prefill(topic, ROWS);
  const env = { ...baseEnv, KAFKA_TOPIC_EVENTS: topic, KAFKA_TOPIC_METRICS: `${topic}.m`, KAFKA_TOPIC_DLQ: `${topic}.dlq`, WRITER_GROUP_ID: `bench-${topic}` };
  const config = loadConfig({ ...env, VIGIL_ROLES: 'writer' });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  // Rows the writer stored (offsets count records, and a record is a bundle).
  const rows = async () => Number((await db.query<{ n: string }>("SELECT coalesce(sum(count), 0) AS n FROM ingest_totals WHERE kind = 'event'")).rows[0].n);
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
  await deleteTopics(createKafka(config.kafka, logger, 'bench'), [topic, `${topic}.m`, `${topic}.dlq`]).catch(() => {});
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
  for (let round = 0; round < ROUNDS; round++) {
    raw1.push(await rawRound(1));
    raw2.push(await rawRound(2));
    const result = await writerRound();
    writer.push(result.rate);
    cpu.push(result.cpu);
    log(`${label} round ${round + 1}: raw×1 ${fmt(raw1.at(-1)!)}, raw×2 ${fmt(raw2.at(-1)!)}, writer ${fmt(writer.at(-1)!)} (${cpu.at(-1)!.toFixed(1)} µs CPU per row)`);
  }
  const after = await tableSize(url, 'events');
  const [r1, r2, w] = [median(raw1), median(raw2), median(writer)];
  return `| ${label} | ${describeSize(before)} → ${describeSize(after)} | ${fmt(r1)} | ${fmt(r2)} | ${fmt(w)} | ${Math.round((100 * w) / r1)}% | ${Math.round((100 * w) / r2)}% | ${median(cpu).toFixed(1)} µs |`;
}

const lines = [
  `writer-drain: ${ROWS.toLocaleString('en-US')} rows per measurement, median of ${ROUNDS} rounds`,
  '| table | events table size (before → after) | raw COPY, 1 conn | raw COPY, 2 conns | writer | writer / raw×1 | writer / raw×2 | writer CPU per row |',
  '|---|---|---|---|---|---|---|---|',
];
lines.push(await measure('empty'));
log(`filling events to ${FILL_ROWS.toLocaleString('en-US')} rows`);
await fillTo(url, 'events', FILL_ROWS, Date.now() - 600_000, log);
lines.push(await measure(`≥ ${(FILL_ROWS / 1e6).toFixed(0)}M rows`));
console.log(lines.join('\n'));
process.exit(0);
