/**
 * Benchmarks (b) and (c), side by side in one run, on empty tables and again at ≥ BENCH_FILL_ROWS rows (default 5M):
 *   pipeline  HTTP → gateway → Kafka → writer → PostgreSQL, sustained: a load generator POSTs batches of 1,000 events
 *             ({"events": [...]}, 4 requests in flight) to a gateway process; a writer process stores them; the rate
 *             is events / time from the first POST until the last event is stored (the writer's ingest_totals).
 *   naive     raw COPY of the same kind of rows into the events table as a conventional design would index it
 *             (random uuid v4 primary key, btree on timestamp, (source, timestamp), (event_type, timestamp), GIN on
 *             tags), 5,000 rows per COPY, one connection. Target (b): pipeline ≥ 1.5× naive.
 *   insert    the conventional design: one INSERT per event (autocommit) into the naive table. Target (c): ≥ 10×.
 *
 *   node --import tsx bench/writer-e2e.ts
 *   BENCH_ROWS=300000 BENCH_INSERT_ROWS=20000 BENCH_FILL_ROWS=5000000 node --import tsx bench/writer-e2e.ts
 *
 * Gateway and writer run as separate processes (node --import tsx bin/vigil.ts --role …), as deployed; the broker,
 * PostgreSQL, both processes and the load generator share the machine's cores.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { createLogger } from '../shared/logger.ts';
import { spawnVigil, type VigilProcess } from '../test/helpers/process.ts';
import {
  copyChunks,
  createNaiveTable,
  describeSize,
  EVENT_COLUMNS,
  fillTo,
  fmt,
  formatNaiveRow,
  freshDatabase,
  makeEvents,
  rawCopy,
  tableSize,
} from './writer-lib.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 300_000);
const INSERT_ROWS = Number(process.env.BENCH_INSERT_ROWS ?? 20_000);
const FILL_ROWS = Number(process.env.BENCH_FILL_ROWS ?? 5_000_000);
const BATCH = 1000;
const IN_FLIGHT = 4;
const log = (line: string) => console.error(`[writer-e2e] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const url = await freshDatabase('vigil_bench_e2e');
await createNaiveTable(url);
const logger = createLogger('warn');

async function pipelineRound(): Promise<number> {
  const id = crypto.randomBytes(4).toString('hex');
  const port = 20_000 + crypto.randomInt(10_000);
  const env: Record<string, string> = {
    DATABASE_URL: url,
    KAFKA_TOPIC_EVENTS: `bench.${id}.events`,
    KAFKA_TOPIC_METRICS: `bench.${id}.metrics`,
    KAFKA_TOPIC_DLQ: `bench.${id}.dlq`,
    KAFKA_TOPIC_PARTITIONS: '6',
    WRITER_GROUP_ID: `bench-${id}`,
    WRITER_BATCH_MAX_ROWS: '5000',
    WRITER_CONCURRENCY: '2',
    PARTITION_GRANULARITY: 'day',
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, logger, 'bench');
  await ensureTopics(kafka, config.kafka);
  const processes: VigilProcess[] = [
    spawnVigil('writer', { ...env, PORT: '0' }),
    spawnVigil('gateway', { ...env, PORT: String(port) }),
  ];
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ready = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (i > 300) throw new Error(`gateway not ready:\n${processes[1].output()}`);
    await sleep(100);
  }
  await sleep(3000); // let the writer join its group

  // Bodies built before the clock starts: the load generator should cost as little as possible.
  const events = makeEvents(ROWS, Date.now() - 300_000);
  const bodies: string[] = [];
  for (let i = 0; i < events.length; i += BATCH) {
    bodies.push(
      JSON.stringify({
        events: events.slice(i, i + BATCH).map((e) => ({
          event_type: e.event_type,
          source: e.source,
          level: e.level,
          message: e.message,
          tags: JSON.parse(e.tags),
          payload: JSON.parse(e.payload),
          timestamp: e.timestamp,
        })),
      }),
    );
  }
  const token = signToken(config.auth, { role: 'user', sub: 'bench', ttlSeconds: 3600 });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  // Rows stored by the writer (a record carries a bundle of events: offsets count records, not rows).
  const stored = async () =>
    Number(
      (await db.query<{ n: string }>("SELECT coalesce(sum(count), 0) AS n FROM ingest_totals WHERE kind = 'event'"))
        .rows[0].n,
    );
  const storedBefore = await stored();

  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < bodies.length; i = next++) {
        for (;;) {
          const res = await fetch(`${base}/api/v1/monitoring/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: bodies[i],
          });
          await res.arrayBuffer();
          if (res.status === 202) break;
          if (res.status !== 429 && res.status !== 503) throw new Error(`POST answered ${res.status}`);
          await sleep(Number(res.headers.get('retry-after') ?? 1) * 100);
        }
      }
    }),
  );
  const accepted = performance.now();
  while ((await stored()) - storedBefore < ROWS) await sleep(20);
  const seconds = (performance.now() - started) / 1000;
  log(`pipeline: accepted in ${((accepted - started) / 1000).toFixed(1)} s, stored in ${seconds.toFixed(1)} s`);
  await db.end();
  for (const p of processes) p.child.kill('SIGTERM');
  await Promise.all(processes.map((p) => p.exited));
  await deleteTopics(kafka, [env.KAFKA_TOPIC_EVENTS, env.KAFKA_TOPIC_METRICS, env.KAFKA_TOPIC_DLQ]).catch(() => {});
  return ROWS / seconds;
}

async function naiveCopyRound(): Promise<number> {
  const chunks = copyChunks(makeEvents(ROWS, Date.now() - 300_000), 5000, formatNaiveRow);
  return rawCopy(url, 'naive_events', EVENT_COLUMNS, chunks, ROWS, 1);
}

async function insertRound(): Promise<number> {
  const events = makeEvents(INSERT_ROWS, Date.now() - 300_000);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  for (const e of events) {
    await client.query(
      `INSERT INTO naive_events (id, "timestamp", event_type, source, level, message, tags, payload, created_by)
       VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        new Date(e.timestamp).toISOString(),
        e.event_type,
        e.source,
        e.level,
        e.message,
        e.tags,
        e.payload,
        e.created_by,
      ],
    );
  }
  const rate = INSERT_ROWS / ((performance.now() - started) / 1000);
  await client.end();
  return rate;
}

async function measure(label: string): Promise<string> {
  const [eventsBefore, naiveBefore] = [await tableSize(url, 'events'), await tableSize(url, 'naive_events')];
  const naive = await naiveCopyRound();
  const pipeline = await pipelineRound();
  const insert = await insertRound();
  log(`${label}: pipeline ${fmt(pipeline)}, naive COPY ${fmt(naive)}, INSERT per event ${fmt(insert)}`);
  const [eventsAfter, naiveAfter] = [await tableSize(url, 'events'), await tableSize(url, 'naive_events')];
  return (
    `| ${label} | ${fmt(pipeline)} (events: ${describeSize(eventsBefore)} → ${describeSize(eventsAfter)}) ` +
    `| ${fmt(naive)} (naive_events: ${describeSize(naiveBefore)} → …) ` +
    `| ${fmt(insert)} (naive_events → ${describeSize(naiveAfter)}) ` +
    `| ${(pipeline / naive).toFixed(2)}× | ${(pipeline / insert).toFixed(1)}× |`
  );
}

const lines = [
  `writer-e2e: ${ROWS.toLocaleString('en-US')} events through the pipeline and by naive COPY, ` +
    `${INSERT_ROWS.toLocaleString('en-US')} by INSERT per event`,
  '| tables | pipeline HTTP→PG (table size) | naive COPY (table size) | INSERT per event (table size) | (b) pipeline ' +
    '/ naive COPY | (c) pipeline / INSERT |',
  '|---|---|---|---|---|---|',
];
lines.push(await measure('empty'));
log(`filling events and naive_events to ${FILL_ROWS.toLocaleString('en-US')} rows`);
await fillTo(url, 'events', FILL_ROWS, Date.now() - 300_000, log);
await fillTo(url, 'naive_events', FILL_ROWS, Date.now() - 300_000, log);
lines.push(await measure(`≥ ${(FILL_ROWS / 1e6).toFixed(0)}M rows`));
console.log(lines.join('\n'));
process.exit(0);
