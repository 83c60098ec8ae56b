/**
 * Benchmark: what idempotency of producer-chosen ids costs the writer. The writer role drains a pre-filled topic
 * (Avro bundles per source, as the gateway writes them) where a given share of the events carry a producer-chosen
 * id (id_given: each is claimed in ingest_ids in the COPY's transaction, services/writer/given-ids.ts) and the rest
 * generated ids (no claim). Rounds alternate the shares; medians are reported. Target: ≤ 10% fewer rows/s than
 * with generated ids only.
 *
 *   node --import tsx bench/writer-given-ids.ts
 *   BENCH_ROWS=200000 BENCH_ROUNDS=3 BENCH_SHARES=0,0.2,1 node --import tsx bench/writer-given-ids.ts
 *
 * Same setup as bench/writer-drain.ts (WRITER_BATCH_MAX_ROWS=5000, WRITER_CONCURRENCY=2, 6 partitions, the rate
 * counted from the first stored batch to the last) on a table that starts empty; the ids claimed by earlier rounds
 * stay in ingest_ids (as they would within the window), so later rounds insert into a growing claim table.
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
import { asDeployed, fmt, freshDatabase, makeEvents, median, writerBenchEnv } from './writer-lib.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SHARES = (process.env.BENCH_SHARES ?? '0,0.2,1').split(',').map(Number);
const log = (line: string) => console.error(`[writer-given-ids] ${line}`);

await asDeployed();
const url = await freshDatabase('vigil_bench_given_ids');
const logger = createLogger('warn');
const codecs = loadCodecs();
const codec = codecs.get('Event')!;
const bundle = codecs.get('EventBundle')!;
const baseEnv = writerBenchEnv(url);

async function prefill(env: Record<string, string>, topic: string, share: number): Promise<void> {
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, 'bench');
  await ensureTopics(kafka, config.kafka);
  const events = makeEvents(ROWS, Date.now() - 600_000);
  for (const e of events) e.id_given = Math.random() < share;
  const producer = new BatchingProducer(kafka, { timeoutMs: 60_000 });
  await producer.connect();
  const headers = { 'vigil-schema': bundle.schemaId, 'vigil-producer': 'gateway' };
  for (let i = 0; i < events.length; i += 4000) {
    const publishes = [0, 1, 2, 3].map((j) => events.slice(i + j * 1000, i + (j + 1) * 1000)).filter((p) => p.length);
    const items = (part: typeof events) => part.map((e) => ({ into: e.source, value: codec.encode(e) }));
    await Promise.all(publishes.map((part) => producer.publish(topic, headers, items(part))));
  }
  await producer.close();
}

async function round(share: number): Promise<number> {
  const topic = `bench.${crypto.randomBytes(4).toString('hex')}.events`;
  const topics = { KAFKA_TOPIC_EVENTS: topic, KAFKA_TOPIC_METRICS: `${topic}.m`, KAFKA_TOPIC_DLQ: `${topic}.dlq` };
  const env = { ...baseEnv, ...topics, WRITER_GROUP_ID: `bench-${topic}` };
  await prefill(env, topic, share);
  const config = loadConfig({ ...env, VIGIL_ROLES: 'writer' });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const totalSql = "SELECT coalesce(sum(count), 0) AS n FROM ingest_totals WHERE kind = 'event'";
  const rows = async () => Number((await db.query<{ n: string }>(totalSql)).rows[0].n);
  const before = await rows();
  const runtime = await startRuntime(config, logger);
  let first = 0;
  let firstAt = 0;
  for (;;) {
    const n = (await rows()) - before;
    if (n > 0 && firstAt === 0) [first, firstAt] = [n, performance.now()];
    if (n >= ROWS) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const rate = (ROWS - first) / ((performance.now() - firstAt) / 1000);
  await runtime.stop();
  await db.end();
  await deleteTopics(createKafka(config.kafka, 'bench'), [topic, `${topic}.m`, `${topic}.dlq`]).catch(() => {});
  return rate;
}

const rates = new Map<number, number[]>(SHARES.map((s) => [s, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const share of SHARES) {
    const rate = await round(share);
    rates.get(share)!.push(rate);
    log(`round ${r + 1}, ${Math.round(share * 100)}% producer-chosen ids: ${fmt(rate)}`);
  }
}
const baseline = median(rates.get(SHARES[0])!);
const lines = [
  `writer-given-ids: ${ROWS.toLocaleString('en-US')} rows per round, median of ${ROUNDS} rounds`,
  '| producer-chosen ids | writer rows/s | vs first share |',
  '|---|---|---|',
  ...SHARES.map((share) => {
    const m = median(rates.get(share)!);
    return `| ${Math.round(share * 100)}% | ${fmt(m)} | ${Math.round((100 * m) / baseline)}% |`;
  }),
];
console.log(lines.join('\n'));
process.exit(0);
