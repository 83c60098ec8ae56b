import { describe, expect, it } from 'vitest';
import { quantileFromBuckets, toQuantileSeries } from './downsample.ts';

// 10 observations: 2 ≤ 10, 4 in (10, 50], 3 in (50, 100], 1 above 100.
const buckets = [
  { le: 50, count: 6 },
  { le: 10, count: 2 },
  { le: Infinity, count: 10 },
  { le: 100, count: 9 },
];

describe('quantileFromBuckets (Prometheus histogram_quantile)', () => {
  it('interpolates linearly inside the bucket the rank falls in', () => {
    expect(quantileFromBuckets(0.5, buckets)).toBe(10 + (40 * (5 - 2)) / 4); // rank 5 in (10, 50]: 40
    expect(quantileFromBuckets(0.1, buckets)).toBe((10 * 1) / 2); // rank 1 in [0, 10]: 5
    expect(quantileFromBuckets(0.85, buckets)).toBeCloseTo(50 + (50 * (8.5 - 6)) / 3, 12); // 91.67
  });

  it('answers the highest finite bound for a rank in +Inf, and nothing without +Inf or observations', () => {
    expect(quantileFromBuckets(0.95, buckets)).toBe(100);
    expect(
      quantileFromBuckets(
        0.5,
        buckets.filter((b) => b.le !== Infinity),
      ),
    ).toBeUndefined();
    expect(
      quantileFromBuckets(0.5, [
        { le: 1, count: 0 },
        { le: Infinity, count: 0 },
      ]),
    ).toBeUndefined();
  });

  it('makes counts monotonic when separately stored counters disagree', () => {
    // le=50 lags behind le=10 (2 < 3): counted as 3, so rank 3.2 lies in (50, 100] with 3 below: 50 + 50 × 0.2 / 1.
    // Without the correction it would be 50 + 50 × 1.2 / 2 = 80.
    expect(
      quantileFromBuckets(0.8, [
        { le: 10, count: 3 },
        { le: 50, count: 2 },
        { le: 100, count: 4 },
        { le: Infinity, count: 4 },
      ]),
    ).toBeCloseTo(60, 12);
  });
});

describe('toQuantileSeries', () => {
  it('groups le rows by series and step bucket into histogram points', () => {
    const t0 = new Date('2026-11-27T10:00:00Z');
    const t1 = new Date('2026-11-27T10:01:00Z');
    const row = (labels: Record<string, string>, bucket: Date, le: string, value: number) => ({
      labels,
      bucket,
      le,
      value,
    });
    const a = { route: '/a' };
    const b = { route: '/b' };
    expect(
      toQuantileSeries('lat_ms', 'p50', [
        row(a, t0, '10', 1),
        row(a, t0, '+Inf', 2),
        row(a, t1, '10', 0),
        row(a, t1, '+Inf', 0), // no observations: no point
        row(b, t1, '10', 4),
        row(b, t1, '+Inf', 4),
      ]),
    ).toEqual([
      { name: 'lat_ms', metric_type: 'histogram', labels: a, points: [{ timestamp: t0.toISOString(), value: 10 }] },
      { name: 'lat_ms', metric_type: 'histogram', labels: b, points: [{ timestamp: t1.toISOString(), value: 5 }] },
    ]);
  });
});
