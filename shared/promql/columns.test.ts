import { describe, expect, it } from 'vitest';
import { Evaluator, type SeriesResult, type SeriesSource, type StoredSeries } from './engine.ts';
import { parseExpr } from './expr-parser.ts';
import { Points, type Labels } from './windows.ts';

const MINUTE = 60_000;

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

/**
 * Random series of every kind the columnar evaluation meets: gauges with NaN, ±Inf and negative values, counters
 * with resets, histogram buckets (some `le` missing at some instants, one unparsable), event counts; irregular
 * intervals with gaps longer than the lookback, points before the window, a pruned front (head > 0).
 */
function randomSource(seed: number): SeriesSource {
  const random = rng(seed);
  const pointsOf = (next: (t: number) => number, from = -20 * MINUTE, to = 80 * MINUTE): Points => {
    const points = new Points();
    for (let t = from + Math.floor(random() * MINUTE); t < to; ) {
      points.add(t, next(t));
      // mostly 15 s, sometimes a gap past the 5 m lookback, sometimes two points a millisecond apart
      const r = random();
      t +=
        r < 0.05 ? 6 * MINUTE + Math.floor(random() * 4 * MINUTE) : r < 0.1 ? 1 : 15_000 + Math.floor(random() * 200);
    }
    if (random() < 0.3) points.pruneThrough(from + 5 * MINUTE);
    return points;
  };
  const gaugeValue = (): number => {
    const r = random();
    if (r < 0.03) return NaN;
    if (r < 0.04) return r < 0.035 ? Infinity : -Infinity;
    return Math.round((random() - 0.2) * 10_000) / 100;
  };
  const all = new Map<string, StoredSeries[]>();
  const add = (labels: Labels, points: Points, counts = false): void => {
    const name = labels.__name__;
    all.set(name, [...(all.get(name) ?? []), { labels, points, ...(counts ? { counts } : {}) }]);
  };
  for (const job of ['a', 'b', 'c']) {
    for (let instance = 0; instance < 4; instance++) {
      const labels = { job, instance: `i${instance}` };
      add({ __name__: 'g', ...labels }, pointsOf(gaugeValue));
      let total = random() < 0.2 ? -5 : 0;
      add(
        { __name__: 'c', ...labels },
        pointsOf(() => (total = random() < 0.03 ? random() * 3 : total + Math.floor(random() * 50))),
      );
    }
    for (const le of ['0.1', '0.5', '1', '5', '+Inf', 'bad']) {
      let count = 0;
      const points = pointsOf(() => (count += Math.floor(random() * (le === '+Inf' ? 20 : Number(le) * 3 + 1))));
      if (le === '5' && job === 'b') points.pruneThrough(30 * MINUTE); // a bucket missing at the early steps
      add({ __name__: 'h_bucket', job, le }, points);
    }
    add(
      { __name__: 'events', job },
      pointsOf(() => 1 + Math.floor(random() * 3)),
      true,
    );
  }
  // The same labels but the metric name: functions that drop the name make two series of one label set.
  add({ __name__: 'g2', job: 'a', instance: 'i0' }, pointsOf(gaugeValue));
  return { select: (selector) => (selector.name === null ? [...all.values()].flat() : (all.get(selector.name) ?? [])) };
}

const QUERIES = [
  'g',
  'g offset 2m',
  '{__name__="g", job=~"a|b"}',
  '-g',
  '+g',
  '(g)',
  'abs(g)',
  'sqrt(g)',
  'g * 2',
  '2 - g',
  'g / 0',
  'g > 10',
  '10 < g',
  'g > bool 10',
  '10 >= bool g',
  'sum(g)',
  'sum by (job) (g)',
  'avg by (job) (g)',
  'avg without (instance) (g)',
  'min by (job) (g)',
  'max(g)',
  'count by (job) (g)',
  'group by (job) (g)',
  'stddev by (job) (g)',
  'stdvar(g)',
  'sum(sum by (job) (g))',
  'rate(c[5m])',
  'increase(c[10m])',
  'rate(c[1m] offset 3m)',
  'delta(g[5m])',
  'irate(c[5m])',
  'idelta(g[3m])',
  'resets(c[10m])',
  'changes(g[10m])',
  'count_over_time(g[5m])',
  'present_over_time(g[2m])',
  'last_over_time(g[5m])',
  'sum_over_time(g[5m])',
  'avg_over_time(g[5m])',
  'min_over_time(g[5m])',
  'max_over_time(g[5m])',
  'stddev_over_time(g[5m])',
  'stdvar_over_time(g[5m])',
  'quantile_over_time(0.9, g[10m])',
  'histogram_quantile(0.9, sum by (le, job) (rate(h_bucket[10m])))',
  'histogram_quantile(0.5, sum by (le) (rate(h_bucket[5m])))',
  'histogram_quantile(0.5, h_bucket)',
  'histogram_quantile(1.5, rate(h_bucket[5m]))',
  'sum by (job) (rate(c[5m])) * 60',
  'sum(rate(c[5m] offset 1m)) / 2',
  'count_over_time(events[5m])',
  'sum by (job) (rate(events[5m]))',
  'time()',
  'time() - 5',
  '1 + 2 * 3',
  '2 > bool 1',
];

/** Per label set, the points; two series of one label set keep their order. */
function byLabels(result: SeriesResult[]): Map<string, SeriesResult[]> {
  const out = new Map<string, SeriesResult[]>();
  for (const s of result) {
    const key = JSON.stringify(Object.entries(s.labels).sort());
    out.set(key, [...(out.get(key) ?? []), s]);
  }
  return out;
}

function close(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

describe('columnar range evaluation', () => {
  it('answers as the step-by-step evaluation on random data (same series, times, values within 1e-9)', () => {
    let compared = 0;
    for (const seed of [1, 2, 3]) {
      const source = randomSource(seed);
      const random = rng(seed * 31);
      for (const query of QUERIES) {
        const expr = parseExpr(query);
        const stepMs = [15_000, 60_000, 61_000, 300_000][Math.floor(random() * 4)];
        const start = Math.floor(random() * 10 * MINUTE);
        const end = start + 60 * MINUTE;
        const columns = new Evaluator(source).rangeColumns(expr, start, end, stepMs);
        expect({ query, columnar: columns !== null }).toEqual({ query, columnar: true });
        const actual = byLabels(new Evaluator(source).range(expr, start, end, stepMs));
        const expected = byLabels(new Evaluator(source).rangeSteps(expr, start, end, stepMs));
        expect({ query, seed, series: [...actual.keys()].sort() }).toEqual({
          query,
          seed,
          series: [...expected.keys()].sort(),
        });
        for (const [key, [want]] of expected) {
          const [got] = actual.get(key)!;
          expect({ query, seed, key, times: got.times }).toEqual({ query, seed, key, times: want.times });
          const differing = want.values.flatMap((v, i) => (close(v, got.values[i]) ? [] : [[i, v, got.values[i]]]));
          expect({ query, seed, key, differing }).toEqual({ query, seed, key, differing: [] });
          compared += want.values.length;
        }
      }
    }
    expect(compared).toBeGreaterThan(30_000);
  }, 60_000);

  it('leaves to the step-by-step evaluation what it does not cover, and result series of one label set', () => {
    const source = randomSource(9);
    for (const query of [
      'topk(2, g)',
      'g == g',
      'g + on(job, instance) c',
      'absent(nope)',
      'label_replace(g, "x", "y", "", "")',
    ])
      expect({ query, columns: new Evaluator(source).rangeColumns(parseExpr(query), 0, 3_600_000, 60_000) }).toEqual({
        query,
        columns: null,
      });
    // rate() drops the metric name: g and g2 give one label set, which the step-by-step evaluation answers.
    const expr = parseExpr('rate({__name__=~"g|g2"}[5m])');
    expect(new Evaluator(source).rangeColumns(expr, 0, 3_600_000, 60_000)).toBeNull();
    expect(new Evaluator(source).range(expr, 0, 3_600_000, 60_000)).toEqual(
      new Evaluator(source).rangeSteps(expr, 0, 3_600_000, 60_000),
    );
  });

  it('keeps the exact bits of the step-by-step sums and means where the input order is the same', () => {
    const source = randomSource(11);
    for (const query of ['avg by (job) (g)', 'sum(rate(c[5m]))', 'stddev(g)']) {
      const expr = parseExpr(query);
      const strip = (r: SeriesResult[]) => byLabels(r);
      expect(strip(new Evaluator(source).range(expr, 0, 3_600_000, 60_000))).toEqual(
        strip(new Evaluator(source).rangeSteps(expr, 0, 3_600_000, 60_000)),
      );
    }
  });
});
