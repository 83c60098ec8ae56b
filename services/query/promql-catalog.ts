/**
 * The series catalog the Prometheus API's series, labels, label values and metadata endpoints read: every stored
 * series (metric_series, plus the samples inserted since its last fold) presented under its Prometheus names
 * (histograms as _bucket{le}/_count/_sum, summaries as _count/_sum, as promql-data.ts loads them). O(series),
 * never O(samples) for folded data. A series is listed when its stored samples span [start, end]: its first sample is
 * at or before `end` and its last at or after `start` (folded: metric_series.first_timestamp/last_timestamp;
 * unfolded: a sample inside the window). Like Prometheus, which answers from whole chunks and blocks, a series whose
 * samples stop before the window and resume after it is listed too.
 */
import type { Pool } from '../../shared/db/pool.ts';
import type { Labels } from '../../shared/promql/windows.ts';
import { formatValue } from './exposition.ts';
import { tooLarge } from './promql-data.ts';
import { BUCKET_BOUNDS } from './series-fold.ts';
import { run } from './sql.ts';

export const MAX_CATALOG_SERIES = 100_000;

export interface CatalogSeries {
  labels: Labels;
  /** The metric family: the stored name (a histogram's _bucket, _count and _sum share it). */
  family: string;
  type: string;
}

export interface CatalogFilter {
  startMs: number | null;
  endMs: number | null;
  /** Prometheus metric names, or null for every name. */
  names: string[] | null;
}

export async function catalog(pool: Pool, filter: CatalogFilter): Promise<CatalogSeries[]> {
  const stored = filter.names
    ? [...new Set(filter.names.flatMap((n) => [n, n.replace(/_(bucket|count|sum)$/, '')]))]
    : null;
  const values: unknown[] = [];
  const param = (value: unknown): string => `$${values.push(value)}`;
  const folded: string[] = ['true'];
  const tail = [`created_at >= coalesce((SELECT folded_before FROM metric_series_fold), '-infinity'::timestamptz)`];
  if (stored) {
    const names = param(stored);
    folded.push(`name = ANY(${names}::text[])`);
    tail.push(`name = ANY(${names}::text[])`);
  }
  if (filter.startMs !== null) {
    const start = param(new Date(filter.startMs));
    folded.push(`last_timestamp >= ${start}`);
    tail.push(`"timestamp" >= ${start}`);
  }
  if (filter.endMs !== null) {
    const end = param(new Date(filter.endMs));
    folded.push(`coalesce(first_timestamp, '-infinity'::timestamptz) <= ${end}`);
    tail.push(`"timestamp" <= ${end}`);
  }
  const rows = await run<{ name: string; metric_type: string; labels: Labels }>(
    pool,
    `SELECT name, metric_type, labels FROM metric_series WHERE ${folded.join(' AND ')}
      UNION
     SELECT DISTINCT name, metric_type, labels FROM metrics WHERE ${tail.join(' AND ')}
      LIMIT ${param(MAX_CATALOG_SERIES + 1)}`,
    values,
  );
  if (rows.length > MAX_CATALOG_SERIES) {
    throw tooLarge(`more than ${MAX_CATALOG_SERIES} series match: add match[] selectors or a start time`);
  }
  const out: CatalogSeries[] = [];
  for (const { name, metric_type: type, labels } of rows) {
    const add = (metric: string, extra: Labels = {}) =>
      out.push({ labels: { ...labels, ...extra, __name__: metric }, family: name, type });
    if (type === 'histogram') {
      if ('le' in labels) continue;
      for (const bound of BUCKET_BOUNDS) add(`${name}_bucket`, { le: formatValue(bound) });
      add(`${name}_bucket`, { le: '+Inf' });
      add(`${name}_count`);
      add(`${name}_sum`);
    } else if (type === 'summary') {
      add(`${name}_count`);
      add(`${name}_sum`);
    } else add(name);
  }
  return out;
}
