/**
 * How a stored vigil sample looks to PromQL — one model for the query role's Prometheus-compatible API
 * (services/query/promql-data.ts, over the metrics table) and for alert rules (the alerter's live windows and the
 * backtest). A sample of (name, metric_type) feeds these Prometheus series:
 *   gauge      <name>: the value as it is
 *   counter    <name>: the running total — vigil counter samples are increments, so the value at a sample is the
 *              sum of every sample of the series up to it (rate/increase then work as over a scraped counter)
 *   histogram  <name>_bucket{le} (running count of observations <= each bound of BUCKET_BOUNDS, and le="+Inf"),
 *              <name>_count and <name>_sum, running
 *   summary    <name>_count and <name>_sum, running
 * Running totals that producers send themselves (remote_write, OTLP cumulative sums) are stored as gauges and so
 * presented as they come.
 */
import type { MetricType } from '../schemas/metric.ts';
import type { Labels } from './windows.ts';

/** Histogram bucket bounds (`le`), wide enough for seconds and milliseconds. Changing them refolds from scratch. */
// biome-ignore-start lint/style/noMagicNumbers: the bucket bounds themselves
export const BUCKET_BOUNDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000,
] as const;
// biome-ignore-end lint/style/noMagicNumbers: the bucket bounds themselves

/** One Prometheus series a stored sample feeds. */
export interface Presented {
  /** The Prometheus metric name. */
  metric: string;
  /** Labels the presentation adds (`le` of a bucket). */
  extra: Labels;
  /** True: the series is the running sum of `step(value)`; false: the value itself. */
  running: boolean;
  /** What one stored sample adds to a running series. */
  step(value: number): number;
}

const ONE = (): number => 1;
const VALUE = (value: number): number => value;

/** `le` as Prometheus writes a bound (shortest form, `+Inf`). */
export function formatBound(bound: number): string {
  return bound === Infinity ? '+Inf' : String(bound);
}

/** The Prometheus series that samples of a stored (name, metric_type) feed. */
export function presentationsOf(name: string, type: MetricType): Presented[] {
  switch (type) {
    case 'gauge':
      return [{ metric: name, extra: {}, running: false, step: VALUE }];
    case 'counter':
      return [{ metric: name, extra: {}, running: true, step: VALUE }];
    case 'summary':
      return [
        { metric: `${name}_count`, extra: {}, running: true, step: ONE },
        { metric: `${name}_sum`, extra: {}, running: true, step: VALUE },
      ];
    case 'histogram':
      return [
        ...BUCKET_BOUNDS.map((bound) => ({
          metric: `${name}_bucket`,
          extra: { le: formatBound(bound) },
          running: true,
          step: (value: number) => (value <= bound ? 1 : 0),
        })),
        { metric: `${name}_bucket`, extra: { le: '+Inf' }, running: true, step: ONE },
        { metric: `${name}_count`, extra: {}, running: true, step: ONE },
        { metric: `${name}_sum`, extra: {}, running: true, step: VALUE },
      ];
  }
}

/** The stored (name, metric_types) a Prometheus metric name can come from, and whether they are running totals. */
export function storedSourcesOf(metric: string): { stored: string; types: MetricType[] }[] {
  const out: { stored: string; types: MetricType[] }[] = [{ stored: metric, types: ['gauge', 'counter'] }];
  const suffix = /_(bucket|count|sum)$/.exec(metric);
  if (suffix) {
    const types: MetricType[] = suffix[1] === 'bucket' ? ['histogram'] : ['histogram', 'summary'];
    out.push({ stored: metric.slice(0, -suffix[0].length), types });
  }
  return out;
}
