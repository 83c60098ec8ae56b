/**
 * What the query service's indexes (infra/migrations/0004) cost the writer: the same 1M events (and 1M metric
 * samples) COPY'd in 5,000-row transactions into fresh tables of the current schema, once as migrated and once
 * with the query service's index dropped (events_id_idx; metrics_created_at_brin_idx), interleaved, best of N.
 *
 *   node --import tsx bench/query-index-cost.ts
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { dropDatabase, ensureDatabase } from '../shared/db/ensure-database.ts';
import { migrate } from '../shared/db/migrate.ts';
import { ensurePartitions } from '../shared/db/partitions.ts';
import { eventRows, metricRows } from './query-data.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const url = 'postgres://postgres@127.0.0.1:5432/vigil_bench_index_cost';

async function load(table: 'events' | 'metrics', dropIndex: string | null, rows: string[]): Promise<number> {
  await dropDatabase(url, 'vigil_bench_index_cost').catch(() => {});
  await ensureDatabase(url);
  await migrate(url);
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const anchor = Date.now();
  await ensurePartitions(pool, table, 'day', anchor - 8 * 86_400_000, anchor + 86_400_000);
  await pool.end();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  if (dropIndex) await client.query(`DROP INDEX ${dropIndex}`);
  const columns =
    table === 'events'
      ? 'id, "timestamp", event_type, source, level, message, tags, payload, created_by'
      : 'id, "timestamp", name, metric_type, value, labels, created_by';
  const started = performance.now();
  for (let i = 0; i < rows.length; i += 5000) {
    await client.query('BEGIN');
    await pipeline(
      Readable.from([rows.slice(i, i + 5000).join('')]),
      client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN`)),
    );
    await client.query('COMMIT');
  }
  const seconds = (performance.now() - started) / 1000;
  await client.end();
  return rows.length / seconds;
}

const anchor = Date.now();
const events = [...eventRows(ROWS, anchor)];
const samples = [...metricRows(ROWS, anchor)];
const best: Record<string, number> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [label, table, drop, rows] of [
    ['events, without events_id_idx', 'events', 'events_id_idx', events],
    ['events, with events_id_idx', 'events', null, events],
    ['metrics, without the created_at BRIN', 'metrics', 'metrics_created_at_brin_idx', samples],
    ['metrics, with the created_at BRIN', 'metrics', null, samples],
  ] as const) {
    const rate = await load(table, drop, rows as string[]);
    best[label] = Math.max(best[label] ?? 0, rate);
    console.error(`[bench] round ${round + 1}: ${label}: ${Math.round(rate)} rows/s`);
  }
}
await dropDatabase(url, 'vigil_bench_index_cost').catch(() => {});
console.log(`| load (${ROWS.toLocaleString('en')} rows, 5,000 per COPY transaction, best of ${ROUNDS}) | rows/s |`);
console.log('|---|---|');
for (const [label, rate] of Object.entries(best))
  console.log(`| ${label} | ${Math.round(rate).toLocaleString('en')} |`);
