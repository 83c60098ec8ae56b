/**
 * Loads what a PromQL query's selectors read from the metrics table, bounded before it runs, and presents vigil's
 * samples as Prometheus series (the same presentation as the exposition, prometheus.ts):
 *   gauge        the stored samples as they are
 *   counter      running totals: samples are increments, so the value at a sample is the sum of every sample of
 *                the series up to it (all-time total from metric_series + the unfolded tail, minus what lies after)
 *   histogram    <name>_bucket{le} (cumulative counts of observations <= each bound of series-fold.ts, and +Inf),
 *                <name>_count and <name>_sum, running the same way; summaries give <name>_count and <name>_sum
 * A selector must name its metric, or its __name__ matchers must match at most MAX_NAMES known names.
 * Bounds: at most MAX_SAMPLES samples are read per query (LIMIT, then a 400 saying how to narrow it).
 */
import { VigilError } from '../../shared/errors.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { matches, Points, type Labels } from '../../shared/promql/windows.ts';
import type { SeriesSource, StoredSeries } from '../../shared/promql/engine.ts';
import type { VectorSelector } from '../../shared/promql/expr.ts';
import { formatValue } from './exposition.ts';
import { BUCKET_BOUNDS, seriesAggregateSql } from './series-fold.ts';
import { run, Where } from './sql.ts';

export const MAX_SAMPLES = 2_000_000;
export const MAX_NAMES = 200;

type Kind = 'raw' | 'counter' | 'bucket' | 'count' | 'sum';

/** One Prometheus metric name mapped onto stored rows: which stored name and types, and how they are presented. */
interface Source {
  metric: string;
  stored: string;
  types: string[];
  kind: Kind;
}

export function tooLarge(message: string): VigilError {
  return new VigilError('VIGIL_ERR_VALIDATION', message, [{ field: 'query', message }]);
}

/** The stored rows a Prometheus metric name can come from. */
export function sourcesOf(metric: string): Source[] {
  const out: Source[] = [
    { metric, stored: metric, types: ['gauge'], kind: 'raw' },
    { metric, stored: metric, types: ['counter'], kind: 'counter' },
  ];
  const suffix = /_(bucket|count|sum)$/.exec(metric);
  if (suffix) {
    const stored = metric.slice(0, -suffix[0].length);
    if (suffix[1] === 'bucket') out.push({ metric, stored, types: ['histogram'], kind: 'bucket' });
    else out.push({ metric, stored, types: ['histogram', 'summary'], kind: suffix[1] as Kind });
  }
  return out;
}

/** Prometheus metric names of the stored (name, type) pairs. */
export function metricNamesOf(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_count`, `${name}_sum`];
  if (type === 'summary') return [`${name}_count`, `${name}_sum`];
  return [name];
}

const FOLD_SINCE = `coalesce((SELECT folded_before FROM metric_series_fold), '-infinity'::timestamptz)`;

/** Every stored (name, metric_type) with a sample at or after `since`: the folded state plus the unfolded tail. */
export async function storedNames(pool: Pool, sinceMs: number): Promise<{ name: string; metric_type: string }[]> {
  return run(
    pool,
    `SELECT name, metric_type FROM metric_series WHERE last_timestamp >= $1
      UNION
     SELECT DISTINCT name, metric_type FROM metrics WHERE created_at >= ${FOLD_SINCE} AND "timestamp" >= $1`,
    [new Date(sinceMs)],
  );
}

export interface LoadRequest {
  selector: VectorSelector;
  /** Earliest and latest sample time the selector reads. */
  fromMs: number;
  toMs: number;
}

export class Budget {
  samples = 0;
  constructor(readonly maxSamples = MAX_SAMPLES) {}
  get remaining(): number {
    return this.maxSamples - this.samples;
  }
}

/** Loads every series the selectors can read; the engine applies the matchers again (regexes are not pushed down). */
export async function loadSeries(pool: Pool, requests: LoadRequest[], budget = new Budget()): Promise<SeriesSource> {
  const bySelector = new Map<VectorSelector, StoredSeries[]>();
  const cache = new Map<string, StoredSeries[]>();
  let names: { name: string; metric_type: string }[] | null = null;
  for (const { selector, fromMs, toMs } of requests) {
    let metrics: string[];
    if (selector.name !== null) metrics = [selector.name];
    else {
      const earliest = Math.min(...requests.map((r) => r.fromMs));
      names ??= await storedNames(pool, earliest);
      const nameMatchers = selector.matchers.filter((m) => m.label === '__name__');
      metrics = [...new Set(names.flatMap((n) => metricNamesOf(n.name, n.metric_type)))].filter((n) =>
        nameMatchers.every((m) => matches(m, n)),
      );
      if (metrics.length > MAX_NAMES) {
        throw tooLarge(
          `the selector matches more than ${MAX_NAMES} metric names: name the metric or narrow its __name__ matcher`,
        );
      }
    }
    const exact: Labels = {};
    for (const m of selector.matchers)
      if (m.op === '=' && m.value !== '' && m.label !== '__name__' && m.label !== 'le') exact[m.label] = m.value;
    const found: StoredSeries[] = [];
    for (const metric of metrics) {
      for (const source of sourcesOf(metric)) {
        const key = `${source.metric}\u0000${source.kind}\u0000${fromMs}\u0000${toMs}\u0000${JSON.stringify(exact)}`;
        let series = cache.get(key);
        if (!series) cache.set(key, (series = await loadSource(pool, source, fromMs, toMs, exact, budget)));
        found.push(...series);
      }
    }
    bySelector.set(selector, found);
  }
  return { select: (selector) => bySelector.get(selector) ?? [] };
}

interface State {
  n: number;
  total: number;
  buckets: number[];
}

async function loadSource(
  pool: Pool,
  source: Source,
  fromMs: number,
  toMs: number,
  exact: Labels,
  budget: Budget,
): Promise<StoredSeries[]> {
  const where = new Where()
    .add('name = ?', source.stored)
    .add('metric_type = ANY(?::text[])', source.types)
    .add('"timestamp" >= ?', new Date(fromMs))
    .add('"timestamp" <= ?', new Date(toMs));
  if (Object.keys(exact).length > 0) where.add('labels @> ?::jsonb', JSON.stringify(exact));
  // One row per series with its samples as arrays: the labels travel once, not with every sample.
  const limit = where.param(budget.remaining + 1);
  const rows = await run<{ labels: string; t: number[]; v: number[] }>(
    pool,
    `SELECT labels, array_agg(t ORDER BY t) AS t, array_agg(value ORDER BY t) AS v
       FROM (SELECT (extract(epoch FROM "timestamp") * 1000)::float8 AS t, value, labels::text AS labels
               FROM metrics ${where} LIMIT ${limit}) window_rows
      GROUP BY labels`,
    where.values,
  );
  budget.samples += rows.reduce((n, row) => n + row.t.length, 0);
  if (budget.samples > budget.maxSamples) {
    throw tooLarge(
      `the query reads more than ${budget.maxSamples} samples (series × points): narrow the time range, ` +
        'add label matchers, or shorten the ranges in [..]',
    );
  }
  if (rows.length === 0) return [];
  const windowBy = new Map<string, { t: number; value: number }[]>();
  for (const row of rows)
    windowBy.set(
      row.labels,
      row.t.map((t, i) => ({ t, value: row.v[i] })),
    );
  const bases = source.kind === 'raw' ? null : await cumulativeBases(pool, source, toMs);
  const out: StoredSeries[] = [];
  for (const [labelsText, samples] of windowBy) {
    const labels = JSON.parse(labelsText) as Labels;
    if (source.kind === 'bucket' && 'le' in labels) continue; // the exposition leaves these out too
    const base = bases?.get(labelsText) ?? { n: 0, total: 0, buckets: BUCKET_BOUNDS.map(() => 0) };
    // The base is the running state just before the window: the all-time state minus what the window and after hold.
    for (const s of samples) {
      base.n -= 1;
      base.total -= s.value;
      BUCKET_BOUNDS.forEach((bound, i) => (base.buckets[i] -= s.value <= bound ? 1 : 0));
    }
    out.push(...present(source, labels, samples, base));
  }
  return out;
}

function present(source: Source, labels: Labels, samples: { t: number; value: number }[], base: State): StoredSeries[] {
  const series = (extra: Labels, value: (s: { t: number; value: number }) => number): StoredSeries => {
    const points = new Points();
    for (const s of samples) points.add(s.t, value(s));
    return { labels: { ...labels, ...extra, __name__: source.metric }, points };
  };
  let running = base.total;
  let count = base.n;
  switch (source.kind) {
    case 'raw':
      return [series({}, (s) => s.value)];
    case 'counter':
    case 'sum':
      return [series({}, (s) => (running += s.value))];
    case 'count':
      return [series({}, () => ++count)];
    case 'bucket': {
      const out = BUCKET_BOUNDS.map((bound, i) => {
        let c = base.buckets[i];
        return series({ le: formatValue(bound) }, (s) => (c += s.value <= bound ? 1 : 0));
      });
      out.push(series({ le: '+Inf' }, () => ++count));
      return out;
    }
  }
}

/** Per series (labels as jsonb text): the all-time state minus the samples after `toMs`. */
async function cumulativeBases(pool: Pool, source: Source, toMs: number): Promise<Map<string, State>> {
  const tail = new Where()
    .add('name = ?', source.stored)
    .add('metric_type = ANY(?::text[])', source.types)
    .add(`created_at >= ${FOLD_SINCE}`);
  const tailSql = seriesAggregateSql(tail);
  const after = new Where();
  after.values.push(...tail.values);
  after
    .add('name = ?', source.stored)
    .add('metric_type = ANY(?::text[])', source.types)
    .add('"timestamp" > ?', new Date(toMs));
  const afterSql = seriesAggregateSql(after);
  const name = after.param(source.stored);
  const types = after.param(source.types);
  const rows = await run<{
    labels: string;
    n: string;
    total: number;
    buckets: string[] | null;
    a_n: string | null;
    a_total: number | null;
    a_buckets: string[] | null;
  }>(
    pool,
    `WITH tail AS (${tailSql}), after AS (${afterSql}),
          state AS (SELECT name, metric_type, labels, sample_count, value_sum, bucket_counts FROM metric_series
                     WHERE name = ${name} AND metric_type = ANY(${types}::text[]))
     SELECT labels::text AS labels,
            coalesce(s.sample_count, 0) + coalesce(t.n, 0) AS n,
            coalesce(s.value_sum, 0) + coalesce(t.total, 0) AS total,
            vigil_add_counts(s.bucket_counts, t.buckets) AS buckets,
            a.n AS a_n, a.total AS a_total, a.buckets AS a_buckets
       FROM state s FULL JOIN tail t USING (name, metric_type, labels)
       LEFT JOIN after a USING (name, metric_type, labels)`,
    after.values,
  );
  const out = new Map<string, State>();
  for (const row of rows) {
    out.set(row.labels, {
      n: Number(row.n) - Number(row.a_n ?? 0),
      total: row.total - (row.a_total ?? 0),
      buckets: BUCKET_BOUNDS.map((_, i) => Number(row.buckets?.[i] ?? 0) - Number(row.a_buckets?.[i] ?? 0)),
    });
  }
  return out;
}
