/**
 * Histograms aggregated in the process, the way Prometheus client libraries keep them: per series a count per
 * bucket, the sum and the count of the observations. A drain turns what was observed since the last one into
 * counter samples named by Prometheus' histogram convention, which vigil stores, queries and exposes as it is:
 *   <name>_bucket{…, le="<bound>"}   observations ≤ bound (cumulative; le="+Inf" counts them all)
 *   <name>_sum{…}                    sum of the observations
 *   <name>_count{…}                  number of observations
 * Counter samples are increments and the exposition serves their running totals, so a Prometheus scrape sees the
 * families of an ordinary histogram (histogram_quantile(0.95, rate(<name>_bucket[5m])) works). What this gives up:
 * vigil's own p50/p95/p99 aggregations are exact percentiles of stored *observations* (metric_type histogram) and
 * do not apply to bucket counters; metric.histogram() keeps sending one observation per call for that.
 * Why: one sample per observation cost the Fastify plugin ~4 µs of CPU per request (bench/README.md); an
 * increment here costs a bucket search and three additions, and a busy series sends the same few samples per drain
 * whatever its request rate.
 */
import type { PreparedSeries } from './encode.ts';

/** Bucket bounds (ms) for request durations: sub-millisecond answers up to ten seconds. */
// biome-ignore-start lint/style/noMagicNumbers: the bucket bounds themselves
export const DEFAULT_DURATION_BUCKETS_MS: readonly number[] = [
  0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000,
];
// biome-ignore-end lint/style/noMagicNumbers: the bucket bounds themselves

/** The le label of a bound, as the Prometheus exposition writes numbers. */
export function leLabel(bound: number): string {
  return bound === Infinity ? '+Inf' : String(bound);
}

/** Checks bucket bounds: finite, strictly increasing, at least one. Returns a reason or null. */
export function invalidBounds(bounds: readonly number[]): string | null {
  if (!Array.isArray(bounds) || bounds.length === 0) return 'buckets must be a non-empty array of numbers';
  for (let i = 0; i < bounds.length; i++) {
    if (typeof bounds[i] !== 'number' || !Number.isFinite(bounds[i])) return `buckets[${i}] must be a finite number`;
    if (i > 0 && bounds[i] <= bounds[i - 1]) return 'buckets must be strictly increasing';
  }
  return null;
}

/** The wire series of one histogram: one per bucket (the last is +Inf), then _sum and _count. */
export interface HistogramWire {
  buckets: PreparedSeries[];
  sum: PreparedSeries;
  count: PreparedSeries;
}

/** One aggregated histogram series. record() must stay cheap: it runs on the instrumented service's request path. */
export class AggregatedHistogram {
  /** Observations per bucket since the last drain, not cumulative; the last slot is +Inf. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  private drainedOnce = false;

  constructor(
    private readonly bounds: readonly number[],
    readonly wire: HistogramWire,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** False (nothing kept) for a value that is not a finite number ≥ 0 (_sum is a counter: it only grows). */
  observe(value: number): boolean {
    if (typeof value !== 'number' || !(value >= 0) || value === Infinity) return false;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
    return true;
  }

  /**
   * The increments since the last drain as (series, value) pairs, then starts afresh. Nothing when nothing was
   * observed; on a series' first drain every bucket is sent (zeros included) so that each le series exists from the
   * start, later only the buckets whose cumulative count grew.
   */
  drain(emit: (series: PreparedSeries, value: number) => void): void {
    if (this.count === 0) return;
    let cumulative = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const added = this.counts[i];
      cumulative += added;
      if (cumulative > 0 || !this.drainedOnce) emit(this.wire.buckets[i], cumulative);
    }
    emit(this.wire.sum, this.sum);
    emit(this.wire.count, this.count);
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
    this.drainedOnce = true;
  }
}
