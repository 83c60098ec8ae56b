/**
 * Counter increments summed per series between flushes. vigil's counter samples carry increments (the contract's
 * track_endpoint_performance sends http_requests_total with value 1.0 per request; the query service sums them into
 * running totals), so sending one sample of value N per series per flush interval stores the same totals with far
 * fewer rows. Bounded by the number of distinct series: a label with unbounded values (a raw path, an id) fills the
 * table and further new series are dropped and counted instead of growing memory.
 */
import type { MetricInput } from './encode.ts';

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export type AddResult = 'added' | 'new_series' | 'full';

export class CounterAggregator {
  private series = new Map<string, Series>();

  constructor(private readonly maxSeries: number) {}

  get size(): number {
    return this.series.size;
  }

  /**
   * Adds `value` to the series `key` (from counterKey). 'new_series' means the caller must validate name and labels
   * (see client.ts) and call accept(); 'full' means the series bound was reached and the increment was not kept.
   */
  add(key: string, value: number): AddResult {
    const existing = this.series.get(key);
    if (existing) {
      existing.value += value;
      return 'added';
    }
    return this.series.size >= this.maxSeries ? 'full' : 'new_series';
  }

  accept(key: string, name: string, labels: Record<string, string>, value: number): void {
    this.series.set(key, { name, labels: { ...labels }, value });
  }

  /** Returns one counter sample per series with its summed increments, and starts a new interval. */
  drain(): MetricInput[] {
    const samples: MetricInput[] = [];
    for (const s of this.series.values())
      samples.push({ name: s.name, metric_type: 'counter', value: s.value, labels: s.labels });
    this.series = new Map();
    return samples;
  }
}

/** Labels in the caller's key order, unsorted (this runs per request): another key order is merely another entry. */
export function counterKey(name: string, labels: Record<string, string>): string {
  let key = name;
  for (const label in labels) key += `\u0000${label}\u0001${labels[label]}`;
  return key;
}
