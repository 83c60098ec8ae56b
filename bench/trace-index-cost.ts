/**
 * What the trace indexes (infra/migrations/0016: events_trace_id_idx, events_trace_roots_idx) cost the writer: the
 * same events COPY'd in 5,000-row transactions into fresh tables of the current schema, with the two indexes and
 * with them dropped, interleaved, best of N — once for events without a trace id (the indexes are partial: such
 * rows only evaluate the predicates) and once for OTLP-like rows that all carry one (spans: 1 root in 8, and logs).
 *
 *   BENCH_ROWS=300000 BENCH_ROUNDS=2 node --import tsx bench/trace-index-cost.ts
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { dropDatabase, ensureDatabase } from '../shared/db/ensure-database.ts';
import { migrate } from '../shared/db/migrate.ts';
import { ensurePartitions } from '../shared/db/partitions.ts';
import { eventRows } from './query-data.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 300_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const DB = 'vigil_bench_trace_index';
const url = `postgres://postgres@127.0.0.1:5432/${DB}`;
const SPAN_MS = 6 * 3_600_000;

/** Spans and logs of traces of 8 spans each (the first a root), in the writer's COPY text format. */
function* tracedRows(count: number, anchorMs: number): Generator<string> {
  const start = anchorMs - SPAN_MS;
  let traceId = '';
  let rootSpan = '';
  for (let i = 0; i < count; i++) {
    const ts = start + Math.floor((i * SPAN_MS) / count);
    if (i % 8 === 0) {
      traceId = crypto.randomBytes(16).toString('hex');
      rootSpan = crypto.randomBytes(8).toString('hex');
    }
    const spanId = i % 8 === 0 ? rootSpan : crypto.randomBytes(8).toString('hex');
    const isLog = i % 8 === 7;
    const tags: Record<string, string> = {
      'http.route': '/api/orders',
      'deployment.environment': 'production',
      trace_id: traceId,
      span_id: spanId,
    };
    if (i % 8 !== 0 && !isLog) tags.parent_span_id = rootSpan;
    const payload = isLog
      ? '{}'
      : `{"kind": "server", "duration_ms": ${(i % 977) / 3}, "status": {"code": "unset", "message": ""}}`;
    const id = crypto.randomUUID();
    const columns = [id, new Date(ts).toISOString(), isLog ? 'log' : 'trace', `svc-${i % 10}`, 'info'];
    columns.push(isLog ? 'a log line' : 'GET /api/orders', JSON.stringify(tags), payload, 'bench');
    yield `${columns.join('\t')}\n`;
  }
}

async function load(dropIndexes: boolean, rows: string[]): Promise<number> {
  await dropDatabase(url, DB).catch(() => {});
  await ensureDatabase(url);
  await migrate(url);
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const anchor = Date.now();
  await ensurePartitions(pool, 'events', 'day', anchor - 8 * 86_400_000, anchor + 86_400_000);
  await pool.end();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  if (dropIndexes) await client.query('DROP INDEX events_trace_id_idx; DROP INDEX events_trace_roots_idx');
  const started = performance.now();
  for (let i = 0; i < rows.length; i += 5000) {
    await client.query('BEGIN');
    const columns = 'id, "timestamp", event_type, source, level, message, tags, payload, created_by';
    await pipeline(
      Readable.from([rows.slice(i, i + 5000).join('')]),
      client.query(copyFrom(`COPY events (${columns}) FROM STDIN`)),
    );
    await client.query('COMMIT');
  }
  const seconds = (performance.now() - started) / 1000;
  await client.end();
  return rows.length / seconds;
}

const anchor = Date.now();
const plain = [...eventRows(ROWS, anchor)];
const traced = [...tracedRows(ROWS, anchor)];
const best: Record<string, number> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [label, drop, rows] of [
    ['events without trace ids, trace indexes dropped', true, plain],
    ['events without trace ids, with the trace indexes', false, plain],
    ['spans and logs with trace ids, trace indexes dropped', true, traced],
    ['spans and logs with trace ids, with the trace indexes', false, traced],
  ] as const) {
    const rate = await load(drop, rows as string[]);
    best[label] = Math.max(best[label] ?? 0, rate);
    console.error(`[bench] round ${round + 1}: ${label}: ${Math.round(rate)} rows/s`);
  }
}
await dropDatabase(url, DB).catch(() => {});
console.log(`| load (${ROWS.toLocaleString('en')} rows, 5,000 per COPY transaction, best of ${ROUNDS}) | rows/s |`);
console.log('|---|---|');
for (const [label, rate] of Object.entries(best))
  console.log(`| ${label} | ${Math.round(rate).toLocaleString('en')} |`);
