/**
 * GET /api/v1/monitoring/metrics/prometheus — text exposition 0.0.4 (exposition.ts) of:
 *  - the contract's series, from the same figures as /stats: monitoring_total_events (counter, the contract's name and
 *    type), monitoring_total_metrics, monitoring_active_alerts, monitoring_open_incidents,
 *    monitoring_events_last_hour, monitoring_metrics_last_hour (gauges) — only for tokens that may read /stats
 *    (AGGREGATE_FIGURES_ROLE, shared/auth/policy.ts): a user's scrape leaves them out rather than failing;
 *  - every stored metric series: counters as running totals (samples are increments), gauges as the value of the
 *    newest sample, histograms as cumulative `_bucket{le}` over series-fold.ts' BUCKET_BOUNDS plus `_sum` and
 *    `_count`, summaries as quantiles 0.5/0.9/0.99 of the observations of the last 10 minutes (NaN when none,
 *    like client libraries' sliding windows) plus `_sum` and `_count` over all of them.
 * Series state comes from metric_series plus the samples inserted since its last fold, in one statement, so a
 * scrape reads O(series) rows however many samples are stored (series-fold.ts explains why that is exact).
 */
import type { FastifyPluginAsync } from 'fastify';
import { AGGREGATE_FIGURES_ROLE, allows } from '../../shared/auth/policy.ts';
import type { Pool } from '../../shared/db/pool.ts';
import type { MetricType } from '../../shared/schemas/metric.ts';
import { Exposition, sortedLabels, formatValue } from './exposition.ts';
import { routeSchema, errorResponses } from './openapi-schemas.ts';
import { BUCKET_BOUNDS, seriesAggregateSql } from './series-fold.ts';
import { run, Where } from './sql.ts';
import { readStats, type Stats } from './stats.ts';

import { HTTP_STATUS } from '../../shared/http/status.ts';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
// biome-ignore lint/style/noMagicNumbers: the quantiles themselves
export const SUMMARY_QUANTILES = [0.5, 0.9, 0.99] as const;
export const SUMMARY_WINDOW_MS = 600_000; // 10 minutes

interface SeriesRow {
  name: string;
  metric_type: MetricType;
  labels: Record<string, string>;
  sample_count: string;
  value_sum: number;
  last_value: number | null;
  bucket_counts: string[] | null;
}

export function seriesStateSql(): { sql: string; values: unknown[] } {
  const where = new Where().add('created_at >= (SELECT since FROM fold)');
  return {
    sql: `WITH fold AS (SELECT coalesce((SELECT folded_before FROM metric_series_fold), '-infinity'::timestamptz) AS
            since),
          tail AS (${seriesAggregateSql(where)})
          SELECT name, metric_type, labels,
                 coalesce(s.sample_count, 0) + coalesce(t.n, 0) AS sample_count,
                 coalesce(s.value_sum, 0) + coalesce(t.total, 0) AS value_sum,
                 CASE WHEN t.last_ts IS NOT NULL AND (s.last_timestamp IS NULL OR t.last_ts >= s.last_timestamp)
                      THEN t.last_value ELSE s.last_value END AS last_value,
                 vigil_add_counts(s.bucket_counts, t.buckets) AS bucket_counts
            FROM metric_series s FULL JOIN tail t USING (name, metric_type, labels)
           ORDER BY name, metric_type, labels`,
    values: where.values,
  };
}

const seriesKey = (name: string, labels: Record<string, string>) => `${name}\u0000${JSON.stringify(labels)}`;

async function summaryQuantiles(pool: Pool, nowMs: number): Promise<Map<string, number[]>> {
  const rows = await run<{ name: string; labels: Record<string, string>; q: number[] }>(
    pool,
    `SELECT name, labels, percentile_cont($1::float8[]) WITHIN GROUP (ORDER BY value) AS q
       FROM metrics
      WHERE metric_type = 'summary' AND "timestamp" >= $2 AND "timestamp" <= $3
      GROUP BY name, labels`,
    [SUMMARY_QUANTILES, new Date(nowMs - SUMMARY_WINDOW_MS), new Date(nowMs)],
  );
  return new Map(rows.map((r) => [seriesKey(r.name, r.labels), r.q]));
}

function seedFamilies(out: Exposition, stats: Stats): void {
  const families: [string, 'counter' | 'gauge', string, number][] = [
    ['monitoring_total_events', 'counter', 'Total number of events in the system', stats.total_events],
    ['monitoring_total_metrics', 'gauge', 'Total number of metric samples in the system', stats.total_metrics],
    ['monitoring_active_alerts', 'gauge', 'Number of currently active alerts', stats.active_alerts],
    ['monitoring_open_incidents', 'gauge', 'Number of incidents neither resolved nor closed', stats.open_incidents],
    [
      'monitoring_events_last_hour',
      'gauge',
      'Events with a timestamp in the current minute and the 59 before it',
      stats.events_last_hour,
    ],
    [
      'monitoring_metrics_last_hour',
      'gauge',
      'Metric samples with a timestamp in the current minute and the 59 before it',
      stats.metrics_last_hour,
    ],
  ];
  for (const [name, type, help, value] of families)
    out.add({ name, type, help, samples: [{ name, labels: [], value }] });
}

const HELP: Record<MetricType, string> = {
  counter: 'Counter stored in vigil: running total of the submitted increments',
  gauge: 'Gauge stored in vigil: value of the newest sample',
  histogram: 'Histogram stored in vigil: every submitted observation, bucketed',
  summary: 'Summary stored in vigil: quantiles over the last 10 minutes of observations, sum and count over all',
};

/** Writes the stored series; rows arrive ordered by name, type and labels, so each family's rows are consecutive. */
function storedFamilies(out: Exposition, rows: SeriesRow[], quantiles: Map<string, number[]>): void {
  let family = '';
  let open = false;
  for (const row of rows) {
    const key = `${row.name}\u0000${row.metric_type}`;
    if (key !== family) {
      family = key;
      open = out.begin(row.name, row.metric_type, HELP[row.metric_type]);
    }
    if (!open) continue;
    const labels = sortedLabels(row.labels);
    const count = Number(row.sample_count);
    switch (row.metric_type) {
      case 'counter':
        out.sample({ name: row.name, labels, value: row.value_sum });
        break;
      case 'gauge':
        out.sample({ name: row.name, labels, value: row.last_value ?? NaN });
        break;
      case 'histogram': {
        if ('le' in row.labels) {
          out.skipped++;
          break;
        }
        BUCKET_BOUNDS.forEach((bound, i) => {
          out.sample({
            name: `${row.name}_bucket`,
            labels: [...labels, ['le', formatValue(bound)]],
            value: Number(row.bucket_counts?.[i] ?? 0),
          });
        });
        out.sample({ name: `${row.name}_bucket`, labels: [...labels, ['le', '+Inf']], value: count });
        out.sample({ name: `${row.name}_sum`, labels, value: row.value_sum });
        out.sample({ name: `${row.name}_count`, labels, value: count });
        break;
      }
      case 'summary': {
        if ('quantile' in row.labels) {
          out.skipped++;
          break;
        }
        const q = quantiles.get(seriesKey(row.name, row.labels));
        SUMMARY_QUANTILES.forEach((quantile, i) => {
          out.sample({ name: row.name, labels: [...labels, ['quantile', String(quantile)]], value: q?.[i] ?? NaN });
        });
        out.sample({ name: `${row.name}_sum`, labels, value: row.value_sum });
        out.sample({ name: `${row.name}_count`, labels, value: count });
        break;
      }
    }
  }
}

export async function renderPrometheus(pool: Pool, nowMs = Date.now(), aggregates = true): Promise<string> {
  const state = seriesStateSql();
  const [stats, rows, quantiles] = await Promise.all([
    aggregates ? readStats(pool, nowMs) : null,
    run<SeriesRow>(pool, state.sql, state.values),
    summaryQuantiles(pool, nowMs),
  ]);
  const out = new Exposition();
  if (stats !== null) seedFamilies(out, stats);
  storedFamilies(out, rows, quantiles);
  return out.toString();
}

export function prometheusRoutes(pool: Pool): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/api/v1/monitoring/metrics/prometheus',
      routeSchema({
        summary: 'Prometheus text exposition (0.0.4) of the statistics and every stored series',
        description:
          'Scrape with `authorization: { credentials: <token> }` in the scrape config ' +
          '(infra/prometheus/prometheus.yml). The monitoring_* series (the /stats figures) only for ' +
          `${AGGREGATE_FIGURES_ROLE} tokens and above.`,
        tags: ['metrics'],
        produces: [CONTENT_TYPE],
        response: {
          [HTTP_STATUS.OK]: { description: 'Exposition text', type: 'string' },
          ...errorResponses(HTTP_STATUS.UNAUTHORIZED),
        },
      }),
      async (request, reply) => {
        const text = await renderPrometheus(pool, Date.now(), allows(request.principal!.role, AGGREGATE_FIGURES_ROLE));
        return reply.header('content-type', CONTENT_TYPE).send(text);
      },
    );
  };
}
