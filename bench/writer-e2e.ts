/**
 * Benchmarks (b) and (c), side by side in one run, on empty tables and again at ≥ BENCH_FILL_ROWS rows (default 5M):
 *   pipeline  HTTP → gateway → Kafka → writer → PostgreSQL, sustained: a load generator POSTs batches of 1,000 events
 *             ({"events": [...]}, 4 requests in flight) to a gateway process; a writer process stores them; the rate
 *             is events / time from the first POST until the last event is stored (the writer's ingest_totals).
 *   naive     raw COPY of the same kind of rows into the events table as a conventional design would index it
 *             (random uuid v4 primary key, btree on timestamp, (source, timestamp), (event_type, timestamp), GIN on
 *             tags), 5,000 rows per COPY, one connection. Target (b): pipeline ≥ 1.0× naive.
 *   insert    the conventional design: one INSERT per event (autocommit) into the naive table. Target (c): ≥ 10×.
 *
 *   node --import tsx bench/writer-e2e.ts
 *   BENCH_ROWS=300000 BENCH_INSERT_ROWS=20000 BENCH_FILL_ROWS=5000000 node --import tsx bench/writer-e2e.ts
 *
 * Gateway and writer run as separate processes (node --import tsx bin/vigil.ts --role …), as deployed; the broker,
 * PostgreSQL, both processes and the load generator share the machine's cores.
 */
import pg from 'pg';
import { runPipeline } from './pipeline.ts';
import { eventValues } from '../test/helpers/copy-text.ts';
import {
  createNaiveTable,
  describeSize,
  EVENT_COLUMNS,
  fillTo,
  fmt,
  naiveChunks,
  freshDatabase,
  makeEvents,
  rawCopy,
  tableSize,
} from './writer-lib.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 300_000);
const INSERT_ROWS = Number(process.env.BENCH_INSERT_ROWS ?? 20_000);
const FILL_ROWS = Number(process.env.BENCH_FILL_ROWS ?? 5_000_000);
const log = (line: string) => console.error(`[writer-e2e] ${line}`);

const url = await freshDatabase('vigil_bench_e2e');
await createNaiveTable(url);

async function pipelineRound(): Promise<number> {
  const run = await runPipeline(url, ROWS);
  log(`pipeline: accepted in ${run.acceptedSeconds.toFixed(1)} s, stored in ${run.storedSeconds.toFixed(1)} s`);
  return ROWS / run.storedSeconds;
}

async function naiveCopyRound(): Promise<number> {
  const chunks = naiveChunks(makeEvents(ROWS, Date.now() - 300_000), 5000);
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
      eventValues(e),
    );
  }
  const rate = INSERT_ROWS / ((performance.now() - started) / 1000);
  await client.end();
  return rate;
}

/**
 * A checkpoint before each measurement: each starts with no dirty pages left by the one before (otherwise whichever
 * ran into the server's next checkpoint paid for both: the naive COPY's rate varied 45–80k rows/s run to run).
 */
async function checkpoint(): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('CHECKPOINT');
  await client.end();
}

async function measure(label: string): Promise<string> {
  const [eventsBefore, naiveBefore] = [await tableSize(url, 'events'), await tableSize(url, 'naive_events')];
  await checkpoint();
  const naive = await naiveCopyRound();
  await checkpoint();
  const pipeline = await pipelineRound();
  await checkpoint();
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
