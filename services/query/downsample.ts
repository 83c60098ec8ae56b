/**
 * Downsampling of one metric: samples are grouped by label set and by step-aligned bucket (date_bin from the Unix
 * epoch, so the same step always yields the same bucket edges), reduced by `agg`, and returned as one series per
 * label set. Semantics, matching how samples are stored (shared/schemas/metric.ts):
 *   - a counter sample is an increment (the contract posts `value: 1` per request), so `rate` = sum of the bucket's
 *     increments ÷ step in seconds, and `sum` = the increase over the bucket;
 *   - a histogram or summary sample is one observation, so p50/p95/p99 are exact percentiles of the bucket's
 *     observations with linear interpolation (percentile_cont), not estimates from buckets;
 *   - a histogram kept as Prometheus bucket counters (`<name>_bucket{le}` increments, as the SDK's aggregated
 *     histograms send them) has no observations: p50/p95/p99 of it are estimated from the buckets exactly as
 *     Prometheus' histogram_quantile does (bucketQuantileSql, quantileFromBuckets);
 *   - avg, min, max, sum and count apply to every type; buckets without samples are omitted.
 * `limit`/`offset` page through series (ordered by their labels), never through points of a series.
 */
import type { MetricType } from '../../shared/schemas/metric.ts';
import type { Where } from './sql.ts';

import { MS_PER_SECOND, PERCENT } from '../../shared/units.ts';

export const AGGREGATIONS = ['avg', 'min', 'max', 'sum', 'count', 'rate', 'p50', 'p95', 'p99'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** Points per series at most (Prometheus' query_range limit): keeps answers and sorts bounded. */
export const MAX_POINTS = 11_000;

const APPLIES_TO: Partial<Record<Aggregation, readonly MetricType[]>> = {
  rate: ['counter'],
  p50: ['histogram', 'summary'],
  p95: ['histogram', 'summary'],
  p99: ['histogram', 'summary'],
};

export function appliesTo(agg: Aggregation, type: MetricType): boolean {
  return APPLIES_TO[agg]?.includes(type) ?? true;
}

export function allowedTypes(agg: Aggregation): readonly MetricType[] | undefined {
  return APPLIES_TO[agg];
}

function reduce(agg: Aggregation, where: Where, stepMs: number): string {
  switch (agg) {
    case 'avg':
    case 'min':
    case 'max':
    case 'sum':
      return `${agg}(value)`;
    case 'count':
      return 'count(*)::float8';
    case 'rate':
      return `sum(value) / ${where.param(stepMs / MS_PER_SECOND)}::float8`;
    case 'p50':
    case 'p95':
    case 'p99':
      return `percentile_cont(${where.param(Number(agg.slice(1)) / PERCENT)}::float8) WITHIN GROUP (ORDER BY value)`;
  }
}

/**
 * The statement for one page of series. `where` already holds the name, time and label filters; the statement
 * ranks label sets so the page boundary falls between series.
 */
export function downsampleSql(
  where: Where,
  opts: { agg: Aggregation; stepMs: number; limit: number; offset: number },
): string {
  return seriesPageSql(where, opts, {
    series: [
      ['labels', 'labels'],
      ['metric_type', 'metric_type'],
    ],
    perBucket: [],
    value: reduce(opts.agg, where, opts.stepMs),
  });
}

/**
 * One page of series, each reduced per step-aligned bucket (date_bin from the Unix epoch, so the same step always
 * yields the same edges): series ranked by their key expressions so the page boundary falls between series.
 * `series` and `perBucket` are [expression, output name] pairs; rows come ordered by series, then bucket.
 */
function seriesPageSql(
  where: Where,
  page: { stepMs: number; limit: number; offset: number },
  shape: { series: [string, string][]; perBucket: [string, string][]; value: string },
): string {
  const step = where.param(`${page.stepMs} milliseconds`);
  const first = where.param(page.offset);
  const last = where.param(page.offset + page.limit);
  const named = ([expr, name]: [string, string]) => (expr === name ? expr : `${expr} AS ${name}`);
  const seriesKey = shape.series.map(([expr]) => expr).join(', ');
  const columns = [...shape.series.map(([, n]) => n), 'bucket', ...shape.perBucket.map(([, n]) => n), 'value'];
  return `SELECT ${columns.join(', ')} FROM (
            SELECT ${shape.series.map(named).join(', ')},
                   date_bin(${step}::interval, "timestamp", TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket,
                   ${shape.perBucket.map((c) => `${named(c)}, `).join('')}${shape.value} AS value,
                   dense_rank() OVER (ORDER BY ${seriesKey}) AS series_no
              FROM metrics ${where}
             GROUP BY ${[seriesKey, 'bucket', ...shape.perBucket.map(([expr]) => expr)].join(', ')}
          ) buckets
          WHERE series_no > ${first} AND series_no <= ${last}
          ORDER BY series_no, bucket`;
}

export interface BucketRow {
  labels: Record<string, string>;
  metric_type: MetricType;
  bucket: Date;
  value: number;
}

export interface Series {
  name: string;
  metric_type: MetricType;
  labels: Record<string, string>;
  points: { timestamp: string; value: number }[];
}

/** Rows arrive ordered by series then bucket; consecutive rows of one series become one entry. */
export function toSeries(name: string, rows: BucketRow[]): Series[] {
  const series: Series[] = [];
  let current: Series | undefined;
  let currentKey = '';
  for (const row of rows) {
    const key = `${row.metric_type}\u0000${JSON.stringify(row.labels)}`;
    if (!current || key !== currentKey) {
      current = { name, metric_type: row.metric_type, labels: row.labels, points: [] };
      currentKey = key;
      series.push(current);
    }
    current.points.push({ timestamp: row.bucket.toISOString(), value: row.value });
  }
  return series;
}

export const QUANTILES: readonly Aggregation[] = ['p50', 'p95', 'p99'];

/** The bucket-counter family of a histogram: `x_bucket` for `x` (and itself for a name that already is one). */
export function bucketFamily(name: string): string {
  return name.endsWith('_bucket') ? name : `${name}_bucket`;
}

/**
 * Per series (labels without `le`) and step bucket: the increments of each `le` bucket counter summed. `where`
 * holds the bucket family's name, time and label filters. Pages by series like downsampleSql.
 */
export function bucketQuantileSql(where: Where, page: { stepMs: number; limit: number; offset: number }): string {
  where.add(`metric_type = 'counter'`).add(`labels ->> 'le' IS NOT NULL`);
  return seriesPageSql(where, page, {
    series: [[`labels - 'le'`, 'labels']],
    perBucket: [[`labels ->> 'le'`, 'le']],
    value: 'sum(value)',
  });
}

export interface LeRow {
  labels: Record<string, string>;
  bucket: Date;
  le: string;
  value: number;
}

/**
 * Prometheus' histogram_quantile over cumulative buckets (upper bound → count of observations ≤ it): the rank
 * q × total falls in the first bucket whose count reaches it, and is placed by linear interpolation between that
 * bucket's bounds (the first bucket's lower bound is 0 when its upper bound is positive). A rank in the +Inf
 * bucket answers the highest finite bound. Undefined without a +Inf bucket or observations.
 */
export function quantileFromBuckets(q: number, buckets: readonly { le: number; count: number }[]): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  if (sorted.length < 2 || sorted[sorted.length - 1].le !== Infinity) return undefined;
  // Counts of separately stored counters can disagree slightly (a sample of one bucket stored, another not yet):
  // make them monotonic, as Prometheus does.
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].count < sorted[i - 1].count) sorted[i] = { ...sorted[i], count: sorted[i - 1].count };
  const total = sorted[sorted.length - 1].count;
  if (!(total > 0)) return undefined;
  const rank = q * total;
  const i = sorted.findIndex((b) => b.count >= rank);
  if (sorted[i].le === Infinity) return sorted[i - 1].le;
  if (i === 0 && sorted[0].le <= 0) return sorted[0].le;
  const lower = i === 0 ? 0 : sorted[i - 1].le;
  const below = i === 0 ? 0 : sorted[i - 1].count;
  const inBucket = sorted[i].count - below;
  return inBucket === 0 ? sorted[i].le : lower + ((sorted[i].le - lower) * (rank - below)) / inBucket;
}

/** Rows ordered by series then bucket (bucketQuantileSql) → one histogram series per label set of `name`. */
export function toQuantileSeries(name: string, agg: Aggregation, rows: LeRow[]): Series[] {
  const q = Number(agg.slice(1)) / PERCENT;
  const series: Series[] = [];
  let current: Series | undefined;
  let currentKey = '';
  let at = -1;
  let buckets: { le: number; count: number }[] = [];
  const flush = () => {
    const value = current && at >= 0 ? quantileFromBuckets(q, buckets) : undefined;
    if (current && value !== undefined) current.points.push({ timestamp: new Date(at).toISOString(), value });
    buckets = [];
  };
  for (const row of rows) {
    const key = JSON.stringify(row.labels);
    if (!current || key !== currentKey || row.bucket.getTime() !== at) flush();
    if (!current || key !== currentKey) {
      current = { name, metric_type: 'histogram', labels: row.labels, points: [] };
      currentKey = key;
      series.push(current);
    }
    at = row.bucket.getTime();
    const le = row.le === '+Inf' ? Infinity : Number(row.le);
    if (!Number.isNaN(le)) buckets.push({ le, count: row.value });
  }
  flush();
  return series.filter((s) => s.points.length > 0);
}
