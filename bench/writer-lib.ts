/**
 * Shared pieces of the writer benchmarks (bench/writer-*.ts): a dedicated database, events of the contract's shape,
 * the naive table of a conventional design, raw COPY, pre-filling tables to a target size, and the size of a
 * table as stated next to every figure. Nothing here runs on import.
 *
 * Event shape (the contract's example): event_type log|trace|alert|metric, one of 20 sources, level, a ~40-character
 * message, tags {service, environment, request_id}, payload {duration_ms, status}; ids are UUIDv7, timestamps run
 * forward from `startMs` a few microseconds apart (rows arrive in time order, as they do in production).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { v7 as uuidv7 } from 'uuid';
import { ensureDatabase, dropDatabase } from '../shared/db/ensure-database.ts';
import { migrate } from '../shared/db/migrate.ts';
import { ensureAllPartitions } from '../shared/db/partitions.ts';
import type { EventRecord } from '../shared/schemas/event.ts';
import { COPY_HEADER, COPY_TRAILER, CopyRows, EVENT_COLUMNS, writeEventRow } from '../services/writer/copy-format.ts';
import { eventCopyText } from '../test/helpers/copy-text.ts';
import { NODE_FLAGS } from '../bin/node-flags.ts';

export const SERVER_URL = process.env.BENCH_SERVER_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DAY_MS = 86_400_000;

export function databaseUrl(name: string): string {
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh, migrated database with partitions for the last and next day. */
export async function freshDatabase(name: string): Promise<string> {
  const url = databaseUrl(name);
  await dropDatabase(url, name);
  await ensureDatabase(url);
  await migrate(url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  await ensureAllPartitions(pool, 'day', Date.now() - DAY_MS, Date.now() + DAY_MS);
  await pool.end();
  return url;
}

const SOURCES = Array.from({ length: 20 }, (_, i) => `service-${String(i).padStart(2, '0')}`);
const TYPES = ['log', 'log', 'log', 'trace', 'alert', 'metric'] as const;
const LEVELS = ['info', 'info', 'info', 'warn', 'error', 'debug'] as const;

/** `count` events of the contract's shape, time-ordered from startMs. */
export function makeEvents(count: number, startMs: number): EventRecord[] {
  const events: EventRecord[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const r = crypto.randomInt(1_000_000);
    const timestamp = startMs + Math.floor(i / 50);
    events[i] = {
      id: uuidv7({ msecs: timestamp }),
      event_type: TYPES[r % TYPES.length],
      source: SOURCES[r % SOURCES.length],
      level: LEVELS[(r >> 3) % LEVELS.length],
      message: `Request processed successfully in ${r % 1000} ms`,
      tags: JSON.stringify({ service: 'api', environment: 'production', request_id: `req-${r}` }),
      payload: JSON.stringify({ duration_ms: r % 1000, status: 200 }),
      timestamp,
      created_by: 'bench',
      id_given: false,
    };
  }
  return events;
}

/** The writer's own binary COPY bodies (services/writer/copy-format.ts), `chunkRows` rows each. */
export function copyChunks(events: EventRecord[], chunkRows: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < events.length; i += chunkRows) {
    const rows = new CopyRows();
    for (const e of events.slice(i, i + chunkRows)) writeEventRow(rows, e);
    chunks.push(Buffer.concat([COPY_HEADER, rows.written(), COPY_TRAILER]));
  }
  return chunks;
}

/**
 * COPY text of the naive design, `chunkRows` rows each (vigil's events columns): a random (v4) id, as a
 * conventional design assigns it, and the text format a conventional client sends.
 */
export function naiveChunks(events: EventRecord[], chunkRows: number): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < events.length; i += chunkRows) {
    let text = '';
    for (const e of events.slice(i, i + chunkRows)) text += eventCopyText(e, crypto.randomUUID());
    chunks.push(text);
  }
  return chunks;
}

/** COPY every chunk, one transaction per chunk, over `connections` connections in parallel; returns rows/s. */
export async function rawCopy(
  url: string,
  table: string,
  columns: string,
  chunks: (string | Buffer)[],
  rows: number,
  connections: number,
): Promise<number> {
  const format = typeof chunks[0] === 'string' ? '' : ' (FORMAT binary)';
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  let next = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      for (let i = next++; i < chunks.length; i = next++) {
        await client.query('BEGIN');
        const copy = client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN${format}`));
        await pipeline(Readable.from([chunks[i]]), copy);
        await client.query('COMMIT');
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.end()));
  return rows / seconds;
}

/** The contract's events table as a conventional design would index it ("naive"). */
export async function createNaiveTable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`
    DROP TABLE IF EXISTS naive_events;
    CREATE TABLE naive_events (
      id uuid PRIMARY KEY,
      "timestamp" timestamptz NOT NULL,
      event_type text NOT NULL,
      source text NOT NULL,
      level text,
      message text,
      tags jsonb NOT NULL DEFAULT '{}',
      payload jsonb NOT NULL DEFAULT '{}',
      created_by text,
      -- The writer's COPY text carries it (a copy of the notable tags): the naive table stores the same rows.
      notable_tags jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX naive_events_timestamp_idx ON naive_events ("timestamp");
    CREATE INDEX naive_events_source_timestamp_idx ON naive_events (source, "timestamp");
    CREATE INDEX naive_events_type_timestamp_idx ON naive_events (event_type, "timestamp");
    CREATE INDEX naive_events_tags_idx ON naive_events USING gin (tags jsonb_path_ops);`);
  await client.end();
}

export { EVENT_COLUMNS };

/** The in-process writer's settings in the drain benchmarks: 6 partitions, 5,000-row batches, 2 at a time. */
export function writerBenchEnv(url: string): Record<string, string> {
  return {
    DATABASE_URL: url,
    KAFKA_TOPIC_PARTITIONS: '6',
    WRITER_BATCH_MAX_ROWS: '5000',
    WRITER_CONCURRENCY: '2',
    LOG_LEVEL: 'warn',
    PORT: '0',
    PARTITION_GRANULARITY: 'day',
  };
}

/**
 * Grows `table` to at least `rows` rows server-side (INSERT … SELECT generate_series, time-ordered over the hour
 * before `endMs`), in 500k-row statements; returns the rows added.
 */
export async function fillTo(
  url: string,
  table: 'events' | 'naive_events',
  rows: number,
  endMs: number,
  log: (line: string) => void,
): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const have = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  const id = table === 'events' ? 'uuid_generate_v7_bench(ts)' : 'gen_random_uuid()';
  await client.query(`CREATE OR REPLACE FUNCTION uuid_generate_v7_bench(ts timestamptz) RETURNS uuid LANGUAGE sql AS $$
    SELECT encode(overlay(uuid_send(gen_random_uuid()) PLACING substring(int8send((extract(epoch FROM ts) *
      1000)::bigint) FROM 3) FROM 1 FOR 6), 'hex')::uuid $$`);
  let added = 0;
  const total = Math.max(0, rows - have);
  const step = 500_000;
  for (let from = 0; from < total; from += step) {
    const n = Math.min(step, total - from);
    const started = performance.now();
    await client.query(
      `INSERT INTO ${table} (id, "timestamp", event_type, source, level, message, tags, payload, created_by)
       SELECT ${id}, ts, (ARRAY['log','log','log','trace','alert','metric'])[1 + g % 6], 'service-' || lpad((g %
         20)::text, 2, '0'),
              (ARRAY['info','info','info','warn','error','debug'])[1 + (g / 7) % 6],
                'Request processed successfully in ' || (g % 1000) || ' ms',
              jsonb_build_object('service', 'api', 'environment', 'production', 'request_id', 'req-' || g),
              jsonb_build_object('duration_ms', g % 1000, 'status', 200), 'bench-fill'
         FROM (SELECT g, to_timestamp(($1::bigint - 3600000 + (g::bigint * 3600000) / $2::bigint) / 1000.0) AS ts
                 FROM generate_series($3::bigint, $3::bigint + $4::bigint - 1) AS g) s`,
      [endMs, total, from, n],
    );
    added += n;
    log(
      `${table}: +${n} rows (${Math.round(n / ((performance.now() - started) / 1000))} rows/s server-side), ` +
        `${have + added} total`,
    );
  }
  await client.query(`ANALYZE ${table}`);
  await client.end();
  return added;
}

export interface TableSize {
  rows: number;
  bytes: number;
}

/** Rows and total size (heap + indexes + TOAST, all partitions) of a table. */
export async function tableSize(url: string, table: string): Promise<TableSize> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ n: string; bytes: string }>(
    `SELECT (SELECT count(*) FROM ${table}) AS n,
            coalesce((SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
                       WHERE c.oid = $1::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent =
                         $1::regclass)), 0) AS bytes`,
    [table],
  );
  await client.end();
  return { rows: Number(rows[0].n), bytes: Number(rows[0].bytes) };
}

export function describeSize(size: TableSize): string {
  const mb = size.bytes / 1024 / 1024;
  const bytes = mb >= 1024 ? `${(mb / 1024).toFixed(2)} GB` : `${mb.toFixed(0)} MB`;
  return `${(size.rows / 1e6).toFixed(2)}M rows, ${bytes}`;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const fmt = (rate: number) => `${Math.round(rate).toLocaleString('en-US')} rows/s`;

/**
 * Re-runs this benchmark under vigil's Node flags (bin/runtime.ts NODE_FLAGS) when it was started without them, so
 * a role hosted in-process runs as `npm start` runs it; resolves in the process that has them.
 */
export async function asDeployed(): Promise<void> {
  if (NODE_FLAGS.every((flag) => process.execArgv.includes(flag))) return;
  const child = spawn(process.execPath, [...NODE_FLAGS, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  const code = await new Promise<number>((resolve) =>
    child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
  );
  process.exit(code);
}
