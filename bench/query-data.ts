/**
 * The query benchmark's data set: 10,000,000 events and 10,000,000 metric samples (10,000 series) spread over the
 * 7 days before the load, generated deterministically (seeded PRNG) and streamed with COPY (pg-copy-streams) into a
 * dedicated database, then the per-minute rollups and day totals the writer would have kept (same tables, same keys)
 * are derived from the loaded rows. A `bench_meta` row records what was loaded; a second run finds it and loads
 * nothing.
 *
 *   node --import tsx bench/query-data.ts            # load into vigil_bench_query (idempotent)
 *   BENCH_DATABASE_URL=postgres://… BENCH_EVENTS=1000000 node --import tsx bench/query-data.ts
 *
 * COPY column order (infra/migrations/0001):
 *   events:  id, timestamp, event_type, source, level, message, tags, payload, created_by, notable_tags (0011)
 *   metrics: id, timestamp, name, metric_type, value, labels, created_by
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { v7 } from 'uuid';
import type net from 'node:net';
import { startRuntime, type Runtime } from '../bin/runtime.ts';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import type { QueryHandle } from '../services/query/index.ts';
import { prng } from '../test/rca/scenarios.ts';
import { ensureDatabase } from '../shared/db/ensure-database.ts';
import { migrate } from '../shared/db/migrate.ts';
import { ensurePartitions } from '../shared/db/partitions.ts';

export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vigil_bench_query';
const DAY_MS = 86_400_000;
const SPAN_MS = 7 * DAY_MS;

export interface BenchDataSpec {
  events: number;
  metricSamples: number;
}

export interface BenchMeta extends BenchDataSpec {
  /** Epoch ms of the newest generated row; scenarios query relative to it. */
  anchorMs: number;
  series: number;
}

/** A UUIDv7 carrying `ms`, like the ids the gateway assigns (time-ordered, so the PK and id index stay append-only). */
function uuidv7(ms: number, random: () => number): string {
  return v7({ msecs: ms, random: Uint8Array.from({ length: 16 }, () => Math.floor(random() * 256)) });
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)];
}

function weighted<T>(choices: readonly (readonly [T, number])[], random: () => number): T {
  let x = random();
  for (const [value, weight] of choices) {
    if ((x -= weight) < 0) return value;
  }
  return choices[choices.length - 1][0];
}

export const BENCH_SOURCES = [
  'api-gateway',
  'auth-service',
  'payment-service',
  'task-service',
  'user-service',
  'order-service',
  'search-service',
  'notification-service',
  'billing-service',
  'inventory-service',
  ...Array.from({ length: 40 }, (_, i) => `svc-${String(i).padStart(2, '0')}`),
];
const EVENT_TYPES = [
  ['log', 0.85],
  ['trace', 0.1],
  ['metric', 0.03],
  ['alert', 0.02],
] as const;
const LEVELS = [
  ['info', 0.7],
  ['debug', 0.15],
  ['warn', 0.1],
  ['error', 0.045],
  ['fatal', 0.005],
] as const;
const ENVIRONMENTS = [
  ['production', 0.8],
  ['staging', 0.15],
  ['development', 0.05],
] as const;
const REGIONS = ['eu-west-1', 'eu-central-1', 'us-east-1', 'ap-south-1'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const PATHS = ['/api/users', '/api/orders', '/api/payments', '/api/tasks', '/api/search', '/api/cart', '/api/login'];
const MESSAGES: readonly ((r: () => number) => string)[] = [
  (r) => `${pick(METHODS, r)} ${pick(PATHS, r)}/${Math.floor(r() * 10_000)} completed in ${Math.floor(r() * 900)} ms`,
  (r) => `User u${Math.floor(r() * 100_000)} logged in successfully`,
  (r) => `Task created: ${pick(['email', 'report', 'export', 'cleanup'], r)}`,
  (r) => `Payment ${Math.floor(r() * 1e9)} processed`,
  (r) => `Payment failed: ${pick(['card declined', 'insufficient funds', 'gateway timeout'], r)}`,
  (r) => `Cache miss for key session:${Math.floor(r() * 1e6)}`,
  (r) => `Connection pool exhausted (${Math.floor(r() * 20)}/20 in use)`,
  (r) =>
    `Retrying request to upstream ${pick(['billing', 'inventory', 'search'], r)} (attempt ${1 + Math.floor(r() * 3)})`,
  () => 'Health check degraded: database latency above threshold',
  (r) => `Order ${Math.floor(r() * 1e8)} shipped to ${pick(REGIONS, r)}`,
];

export function* eventRows(count: number, anchorMs: number, seed = 1): Generator<string> {
  const random = prng(seed);
  const start = anchorMs - SPAN_MS;
  const creators = ['5b7c9a1e-0c1d-4e8a-9f2b-3a4c5d6e7f80', '9d2e4f60-1a2b-4c3d-8e9f-0a1b2c3d4e5f', 'kafka:bench'];
  for (let i = 0; i < count; i++) {
    const ts = start + Math.floor((i * SPAN_MS) / count);
    const source = BENCH_SOURCES[Math.floor(random() ** 1.6 * BENCH_SOURCES.length)];
    const type = weighted(EVENT_TYPES, random);
    const level = type === 'trace' ? null : weighted(LEVELS, random);
    const tags: Record<string, string | number> = {
      service: source,
      environment: weighted(ENVIRONMENTS, random),
      region: pick(REGIONS, random),
      request_id: `req-${Math.floor(random() * 0xffffffff).toString(16)}`,
    };
    if (random() < 0.4) tags.user_id = `u${Math.floor(random() * 100_000)}`;
    if (type === 'log')
      tags.status = weighted(
        [
          [200, 0.85],
          [404, 0.08],
          [500, 0.05],
          [503, 0.02],
        ] as const,
        random,
      );
    const message = type === 'metric' ? null : pick(MESSAGES, random)(random);
    const payload = `{"duration_ms": ${Math.floor(random() * 2000)}}`;
    const text = JSON.stringify(tags);
    // notable_tags as the writer sets it (services/writer/copy-format.ts; these tags are always small enough).
    const notable = level === 'warn' || level === 'error' || level === 'fatal' || type === 'alert' ? text : '\\N';
    const columns = [uuidv7(ts, random), new Date(ts).toISOString(), type, source, level ?? '\\N', message ?? '\\N'];
    yield `${columns.join('\t')}\t${text}\t${payload}\t${creators[i % 3]}\t${notable}\n`;
  }
}

interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  dims: [string, string[]][];
}

const range = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
const ENDPOINTS = Array.from(
  { length: 25 },
  (_, i) => `${PATHS[i % PATHS.length]}/v${Math.floor(i / PATHS.length) + 1}`,
);
const INSTANCES_10 = range('host-', 10);
const INSTANCES_100 = range('host-', 100);
const QUEUES = range('queue-', 100);

/** 10,000 series: 5000 + 1000 + 500 + 1000 + 500 + 1000 + 1000. */
export const BENCH_FAMILIES: Family[] = [
  {
    name: 'http_requests_total',
    type: 'counter',
    dims: [
      ['method', METHODS],
      ['endpoint', ENDPOINTS],
      ['status', ['200', '201', '400', '404', '500']],
      ['instance', INSTANCES_10],
    ],
  },
  {
    name: 'http_request_duration_seconds',
    type: 'histogram',
    dims: [
      ['method', METHODS],
      ['endpoint', ENDPOINTS],
      ['instance', INSTANCES_10],
    ],
  },
  {
    name: 'db_query_duration_seconds',
    type: 'summary',
    dims: [
      ['query', range('q', 50)],
      ['instance', INSTANCES_10],
    ],
  },
  {
    name: 'cpu_usage',
    type: 'gauge',
    dims: [
      ['instance', INSTANCES_100],
      ['cpu', range('', 10)],
    ],
  },
  {
    name: 'memory_used_bytes',
    type: 'gauge',
    dims: [
      ['instance', INSTANCES_100],
      ['area', ['heap', 'stack', 'code', 'buffers', 'other']],
    ],
  },
  {
    name: 'queue_depth',
    type: 'gauge',
    dims: [
      ['queue', QUEUES],
      ['instance', INSTANCES_10],
    ],
  },
  {
    name: 'jobs_processed_total',
    type: 'counter',
    dims: [
      ['queue', QUEUES],
      ['instance', INSTANCES_10],
    ],
  },
];

export interface BenchSeries {
  name: string;
  type: Family['type'];
  labels: Record<string, string>;
  labelsJson: string;
}

export function benchSeries(): BenchSeries[] {
  const out: BenchSeries[] = [];
  for (const family of BENCH_FAMILIES) {
    let combos: Record<string, string>[] = [{}];
    for (const [key, values] of family.dims) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
    for (const labels of combos)
      out.push({ name: family.name, type: family.type, labels, labelsJson: JSON.stringify(labels) });
  }
  return out;
}

/** Every series is sampled once per tick (like a scrape), ticks spread evenly over the 7 days. */
export function* metricRows(count: number, anchorMs: number, seed = 2): Generator<string> {
  const random = prng(seed);
  const series = benchSeries();
  const ticks = Math.ceil(count / series.length);
  const tickMs = SPAN_MS / ticks;
  const start = anchorMs - SPAN_MS;
  const gauges = series.map(() => random() * 100);
  let emitted = 0;
  for (let tick = 0; tick < ticks && emitted < count; tick++) {
    const tickStart = start + Math.floor(tick * tickMs);
    for (let s = 0; s < series.length && emitted < count; s++, emitted++) {
      const { name, type, labelsJson } = series[s];
      const ts = tickStart + Math.floor((s * (tickMs - 1)) / series.length);
      let value: number;
      if (type === 'counter') value = Math.floor(random() * 50);
      else if (type === 'gauge') value = gauges[s] = Math.max(0, gauges[s] + (random() - 0.5) * 5);
      else value = Math.exp(-4 + random() * 5); // ~0.018 .. 2.7 s, log-uniform
      const at = new Date(ts).toISOString();
      yield `${uuidv7(ts, random)}\t${at}\t${name}\t${type}\t${value}\t${labelsJson}\tkafka:bench\n`;
    }
  }
}

async function copyRows(
  client: pg.Client,
  table: string,
  columns: string,
  rows: Iterable<string>,
  label: string,
): Promise<number> {
  const started = Date.now();
  let n = 0;
  const CHUNK = 5000;
  function* chunks(): Generator<string> {
    let buffer: string[] = [];
    for (const row of rows) {
      buffer.push(row);
      if (buffer.length === CHUNK) {
        n += buffer.length;
        if (n % 1_000_000 === 0)
          console.error(
            `[bench data] ${label}: ${n.toLocaleString('en')} rows, ` +
              `${Math.round(n / ((Date.now() - started) / 1000))} rows/s`,
          );
        yield buffer.join('');
        buffer = [];
      }
    }
    if (buffer.length) {
      n += buffer.length;
      yield buffer.join('');
    }
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN`)));
  return (Date.now() - started) / 1000;
}

/** Loads the data set unless bench_meta says it is already there; returns what the database holds. */
export async function ensureBenchData(
  spec: BenchDataSpec,
  url = BENCH_DATABASE_URL,
  log = (l: string) => console.error(`[bench data] ${l}`),
): Promise<BenchMeta> {
  await ensureDatabase(url, log);
  await migrate(url, log);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS bench_meta (events bigint, metric_samples bigint, series int, anchor timestamptz)',
    );
    const existing = await client.query<{ events: string; metric_samples: string; series: number; anchor: Date }>(
      'SELECT * FROM bench_meta',
    );
    if (existing.rows.length) {
      const row = existing.rows[0];
      const meta = {
        events: Number(row.events),
        metricSamples: Number(row.metric_samples),
        series: row.series,
        anchorMs: row.anchor.getTime(),
      };
      if (meta.events === spec.events && meta.metricSamples === spec.metricSamples) {
        log(
          `reusing ${meta.events.toLocaleString('en')} events and ${meta.metricSamples.toLocaleString('en')} metric ` +
            `samples loaded with anchor ${row.anchor.toISOString()}`,
        );
        return meta;
      }
      throw new Error(`${url} holds a different data set (${JSON.stringify(meta)}); drop the database to reload`);
    }
    const anchorMs = Math.floor(Date.now() / 60_000) * 60_000;
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    for (const table of ['events', 'metrics', 'rollups'] as const)
      await ensurePartitions(pool, table, 'day', anchorMs - SPAN_MS - DAY_MS, anchorMs + DAY_MS);
    await pool.end();
    await client.query('TRUNCATE events, metrics, rollups, ingest_totals');
    const eventSeconds = await copyRows(
      client,
      'events',
      'id, "timestamp", event_type, source, level, message, tags, payload, created_by, notable_tags',
      eventRows(spec.events, anchorMs),
      'events',
    );
    log(
      `events: ${spec.events.toLocaleString('en')} rows in ${eventSeconds.toFixed(0)} s ` +
        `(${Math.round(spec.events / eventSeconds)} rows/s)`,
    );
    const metricSeconds = await copyRows(
      client,
      'metrics',
      'id, "timestamp", name, metric_type, value, labels, created_by',
      metricRows(spec.metricSamples, anchorMs),
      'metrics',
    );
    log(
      `metrics: ${spec.metricSamples.toLocaleString('en')} rows in ${metricSeconds.toFixed(0)} s ` +
        `(${Math.round(spec.metricSamples / metricSeconds)} rows/s)`,
    );
    // What the writer's rollups.ts would have upserted batch by batch, derived once from the stored rows.
    await client.query(`INSERT INTO rollups (bucket, kind, event_type, source, level, count)
      SELECT date_trunc('minute', "timestamp"), 'event', event_type, source, coalesce(level, ''), count(*) FROM events
        GROUP BY 1, 3, 4, 5`);
    await client.query(`INSERT INTO rollups (bucket, kind, event_type, source, level, count)
      SELECT date_trunc('minute', "timestamp"), 'metric', metric_type, name, '', count(*) FROM metrics GROUP BY 1, 3,
        4`);
    // And the day totals beside them, spread over 6 Kafka partitions as 6 writers' partitions would leave them.
    await client.query(`INSERT INTO ingest_totals (day, kind, partition, count)
      SELECT (bucket AT TIME ZONE 'UTC')::date, kind, abs(hashtext(source)) % 6, sum(count) FROM rollups GROUP BY 1, 2,
        3`);
    log('rollups derived; analyzing');
    await client.query('VACUUM ANALYZE events');
    await client.query('VACUUM ANALYZE metrics');
    await client.query('VACUUM ANALYZE rollups');
    const series = benchSeries().length;
    await client.query('INSERT INTO bench_meta VALUES ($1, $2, $3, $4)', [
      spec.events,
      spec.metricSamples,
      series,
      new Date(anchorMs),
    ]);
    return { ...spec, series, anchorMs };
  } finally {
    await client.end();
  }
}

export const DEFAULT_SPEC: BenchDataSpec = {
  events: Number(process.env.BENCH_EVENTS ?? 10_000_000),
  metricSamples: Number(process.env.BENCH_METRIC_SAMPLES ?? 10_000_000),
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const meta = await ensureBenchData(DEFAULT_SPEC);
  console.log(JSON.stringify(meta));
}

/**
 * The query role in-process on a benchmark database, its series fold caught up (so the measured queries read what a
 * running deployment would), listening on a free port; `origin` is its http://host:port, `token` one of `role`.
 */
export async function startFoldedQueryRole(
  url: string,
  role: 'user' | 'moderator',
  label = 'query',
): Promise<{ runtime: Runtime; origin: string; token: string }> {
  const config = loadConfig({
    DATABASE_URL: url,
    VIGIL_ROLES: 'query',
    LOG_LEVEL: 'warn',
    QUERY_FOLD_INTERVAL_SECONDS: '3600',
    DATABASE_POOL_MAX: '4',
    // QUERY_HOUR_CACHE_MB=0 measures PromQL panels as a first request does: every hour read from PostgreSQL.
    QUERY_HOUR_CACHE_MB: process.env.QUERY_HOUR_CACHE_MB ?? '128',
  });
  const runtime = await startRuntime(config, createLogger('warn'));
  const query = runtime.roles.find((r) => r.name === 'query') as QueryHandle;
  const foldStarted = Date.now();
  // foldNow runs after the fold the role started with, which folds the whole backlog: its own result counts only
  // what arrived since (usually nothing), so the series the fold state holds are read back for the log.
  let fold = await query.fold.foldNow();
  // metric_hours is built a few hours per fold: fold until it holds every hour.
  while (fold.hoursPending) fold = await query.fold.foldNow();
  const state = new pg.Client({ connectionString: url });
  await state.connect();
  const { rows } = await state
    .query<{ n: string }>('SELECT count(*) AS n FROM metric_series')
    .finally(() => state.end());
  console.error(
    `[bench] ${label}: fold caught up in ${Date.now() - foldStarted} ms, ${rows[0].n} series folded; ` +
      `the last fold: ${JSON.stringify(fold)}`,
  );
  await runtime.app.listen({ host: '127.0.0.1', port: 0 });
  const origin = `http://127.0.0.1:${(runtime.app.server.address() as net.AddressInfo).port}`;
  return { runtime, origin, token: signToken(config.auth, { role, sub: 'bench', ttlSeconds: 3600 }) };
}
