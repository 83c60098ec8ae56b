/**
 * The PromQL dashboard data set: 1,000 gauge series sampled every 15 s for 24 h (`panel_cpu_usage{instance, cpu}`,
 * 5,760,000 samples: what one 24 h dashboard panel over 1,000 series reads) plus 736 counter series at the same
 * rate (`panel_requests_total{instance, route}`, 4,239,360 samples), about 10M samples in all, in a database of its
 * own. Generated server-side (INSERT … SELECT generate_series, time-ordered as ingestion leaves them), so loading
 * takes minutes, not the tens of minutes of a COPY from Node. A `bench_meta` row records what was loaded; a second
 * run finds it and loads nothing.
 *
 *   node --import tsx bench/promql-data.ts       # load into vigil_bench_promql (idempotent)
 */
import pg from 'pg';
import { ensureDatabase } from '../shared/db/ensure-database.ts';
import { migrate } from '../shared/db/migrate.ts';
import { ensurePartitions } from '../shared/db/partitions.ts';

export const PROMQL_BENCH_DATABASE_URL =
  process.env.BENCH_PROMQL_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vigil_bench_promql';
const DAY_MS = 86_400_000;
export const SAMPLE_INTERVAL_MS = 15_000;
const STEPS = DAY_MS / SAMPLE_INTERVAL_MS;

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  series: number;
  /** SQL of the labels (jsonb) of series `s`. */
  labels: string;
  /** SQL of the value of series `s` at step `i`. */
  value: string;
}

/** 1,000 gauges (100 instances × 10 cpus) and 736 counters (92 instances × 8 routes). */
export const PANEL_FAMILIES: Family[] = [
  {
    name: 'panel_cpu_usage',
    type: 'gauge',
    series: 1000,
    labels: `jsonb_build_object('instance', 'host-' || lpad((s / 10)::text, 3, '0'), 'cpu', (s % 10)::text)`,
    value: '50 + 40 * sin(i / 240.0 + s) + ((s * 7919 + i * 104729) % 1000) / 100.0',
  },
  {
    name: 'panel_requests_total',
    type: 'counter',
    series: 736,
    labels: `jsonb_build_object('instance', 'host-' || lpad((s / 8)::text, 3, '0'), 'route', 'r' || (s % 8)::text)`,
    value: '((s * 31 + i * 17) % 50)::float8',
  },
];

export interface PromqlBenchMeta {
  metricSamples: number;
  series: number;
  /** Epoch ms of the end of the generated day; panels query relative to it. */
  anchorMs: number;
}

export async function ensurePromqlBenchData(
  url = PROMQL_BENCH_DATABASE_URL,
  log = (l: string) => console.error(`[bench data] ${l}`),
): Promise<PromqlBenchMeta> {
  await ensureDatabase(url, log);
  await migrate(url, log);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE IF NOT EXISTS bench_meta (metric_samples bigint, series int, anchor timestamptz)');
    const existing = await client.query<{ metric_samples: string; series: number; anchor: Date }>(
      'SELECT * FROM bench_meta',
    );
    if (existing.rows.length) {
      const row = existing.rows[0];
      const samples = Number(row.metric_samples).toLocaleString('en');
      log(`reusing ${samples} metric samples loaded with anchor ${row.anchor.toISOString()}`);
      return { metricSamples: Number(row.metric_samples), series: row.series, anchorMs: row.anchor.getTime() };
    }
    const anchorMs = Math.floor(Date.now() / 60_000) * 60_000;
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    await ensurePartitions(pool, 'metrics', 'day', anchorMs - 2 * DAY_MS, anchorMs + DAY_MS);
    await pool.end();
    await client.query('TRUNCATE metrics, metric_series');
    await client.query(`UPDATE metric_series_fold SET folded_before = '-infinity'`);
    let samples = 0;
    for (const family of PANEL_FAMILIES) {
      const started = Date.now();
      // Each series scrapes at its own offset within the interval, as scrapes spread over a target list.
      const { rowCount } = await client.query(
        `INSERT INTO metrics (id, "timestamp", name, metric_type, value, labels, created_by)
         SELECT gen_random_uuid(),
                to_timestamp(($1::float8 - ${DAY_MS} + i * ${SAMPLE_INTERVAL_MS}
                              + (s * 13) % ${SAMPLE_INTERVAL_MS}) / 1000),
                $2, $3, ${family.value}, labels, 'kafka:bench'
           FROM generate_series(0, ${STEPS - 1}) AS i
          CROSS JOIN (SELECT s, ${family.labels} AS labels FROM generate_series(0, $4::int - 1) AS s) series`,
        [anchorMs, family.name, family.type, family.series],
      );
      samples += rowCount ?? 0;
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      log(`${family.name}: ${(rowCount ?? 0).toLocaleString('en')} rows in ${seconds} s`);
    }
    await client.query('VACUUM ANALYZE metrics');
    const series = PANEL_FAMILIES.reduce((n, f) => n + f.series, 0);
    await client.query('INSERT INTO bench_meta VALUES ($1, $2, $3)', [samples, series, new Date(anchorMs)]);
    return { metricSamples: samples, series, anchorMs };
  } finally {
    await client.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await ensurePromqlBenchData()));
}
