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
 * WRITER_CONCURRENCY=2, reading Avro records with the vigil-schema header (as the gateway writes them) from a
 * 6-partition topic; the rate is counted from the first stored batch to the last (group join excluded).
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { Partitioners } from 'kafkajs';
import { loadConfig } from '../shared/config.ts';
import { createKafka } from '../shared/kafka/client.ts';
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
const codec = loadCodecs().get('Event')!;
const baseEnv = { DATABASE_URL: url, KAFKA_TOPIC_PARTITIONS: '6', WRITER_BATCH_MAX_ROWS: '5000', WRITER_CONCURRENCY: '2', LOG_LEVEL: 'warn', PORT: '0', PARTITION_GRANULARITY: 'day' };

async function prefill(topic: string, count: number): Promise<void> {
  const config = loadConfig({ ...baseEnv, KAFKA_TOPIC_EVENTS: topic, KAFKA_TOPIC_METRICS: `${topic}.m`, KAFKA_TOPIC_DLQ: `${topic}.dlq` });
  const kafka = createKafka(config.kafka, logger, 'bench');
  await ensureTopics(kafka, config.kafka);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const events = makeEvents(count, Date.now() - 600_000);
  for (let i = 0; i < events.length; i += 5000) {
    const messages = events.slice(i, i + 5000).map((e) => ({ key: e.source, value: codec.encode(e), headers: { 'vigil-schema': codec.schemaId, 'vigil-producer': 'gateway' } }));
    // Leadership of a fresh topic can still move on a busy broker: retry rather than lose the run.
    for (let attempt = 0; ; attempt++) {
      try {
        await producer.send({ topic, acks: -1, messages });
        break;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  await producer.disconnect();
}

async function writerRound(): Promise<number> {
  const topic = `bench.${crypto.randomBytes(4).toString('hex')}.events`;
  await prefill(topic, ROWS);
  const env = { ...baseEnv, KAFKA_TOPIC_EVENTS: topic, KAFKA_TOPIC_METRICS: `${topic}.m`, KAFKA_TOPIC_DLQ: `${topic}.dlq`, WRITER_GROUP_ID: `bench-${topic}` };
  const config = loadConfig({ ...env, VIGIL_ROLES: 'writer' });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const stored = async () => Number((await db.query<{ n: string }>('SELECT coalesce(sum(next_offset), 0) AS n FROM consumer_offsets WHERE topic = $1', [topic])).rows[0].n);
  const runtime = await startRuntime(config, logger);
  let first = 0;
  let firstAt = 0;
  for (;;) {
    const n = await stored();
    if (n > 0 && firstAt === 0) [first, firstAt] = [n, performance.now()];
    if (n >= ROWS) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const rate = (ROWS - first) / ((performance.now() - firstAt) / 1000);
  await runtime.stop();
  await db.end();
  await deleteTopics(createKafka(config.kafka, logger, 'bench'), [topic, `${topic}.m`, `${topic}.dlq`]).catch(() => {});
  return rate;
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
  for (let round = 0; round < ROUNDS; round++) {
    raw1.push(await rawRound(1));
    raw2.push(await rawRound(2));
    writer.push(await writerRound());
    log(`${label} round ${round + 1}: raw×1 ${fmt(raw1.at(-1)!)}, raw×2 ${fmt(raw2.at(-1)!)}, writer ${fmt(writer.at(-1)!)}`);
  }
  const after = await tableSize(url, 'events');
  const [r1, r2, w] = [median(raw1), median(raw2), median(writer)];
  return `| ${label} | ${describeSize(before)} → ${describeSize(after)} | ${fmt(r1)} | ${fmt(r2)} | ${fmt(w)} | ${Math.round((100 * w) / r1)}% | ${Math.round((100 * w) / r2)}% |`;
}

const lines = [
  `writer-drain: ${ROWS.toLocaleString('en-US')} rows per measurement, median of ${ROUNDS} rounds`,
  '| table | events table size (before → after) | raw COPY, 1 conn | raw COPY, 2 conns | writer | writer / raw×1 | writer / raw×2 |',
  '|---|---|---|---|---|---|---|',
];
lines.push(await measure('empty'));
log(`filling events to ${FILL_ROWS.toLocaleString('en-US')} rows`);
await fillTo(url, 'events', FILL_ROWS, Date.now() - 600_000, log);
lines.push(await measure(`≥ ${(FILL_ROWS / 1e6).toFixed(0)}M rows`));
console.log(lines.join('\n'));
process.exit(0);
