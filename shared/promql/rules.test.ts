/**
 * PromQL over the alerter's live windows: the stored-sample model of series-model.ts built incrementally (a counter's
 * increments as its running total, a histogram's observations as _bucket/_count/_sum), events as counts per
 * stream, pruning and lost partitions. Times in seconds from T0; evaluation at T0 + 300 s unless a test says
 * otherwise, with a 5-minute lookback.
 */
import { describe, expect, it } from 'vitest';
import type { MetricType } from '../schemas/metric.ts';
import { compileQuery } from './compile.ts';
import { Evaluator, type Sample, type SeriesSource } from './engine.ts';
import { parseExpr } from './expr-parser.ts';
import { selectorsOf } from './expr.ts';
import { EVENTS, WindowStore, type Origin } from './windows.ts';

const T0 = 1_700_000_000_000;
const s = (seconds: number) => T0 + seconds * 1000;
const P0: Origin = { topic: 'metrics', partition: 0 };
const P1: Origin = { topic: 'metrics', partition: 1 };

const RULES = [
  'cpu_usage > 0',
  'req_total > 0',
  'req_inc > 0',
  'latency_bucket > 0',
  'latency_count > 0',
  'latency_sum > 0',
  'count_over_time(events{level="error", source="api"}[5m]) > 0',
  'count_over_time(events{level="error"}[5m]) > 0',
  'count_over_time(events{region=~"eu-.*"}[5m]) > 0',
  'count_over_time(events{type="log", retries="3"}[5m]) > 0',
];

function watching(w: WindowStore, queries: string[]): WindowStore {
  w.setSelectors(
    queries.flatMap((q) => compileQuery({ query: q, threshold_value: null }, { maxRangeMs: 3_600_000 }).selectors),
  );
  return w;
}

function metric(
  w: WindowStore,
  name: string,
  type: MetricType,
  labels: Record<string, string>,
  points: number[][],
  origin = P0,
) {
  for (const [t, v] of points) w.addMetric(name, type, labels, s(t), v, origin);
}

function store(): WindowStore {
  const w = watching(new WindowStore(), RULES);
  // cpu_usage: web-1 rises above 80, web-2 stays low, db-1 stopped reporting 400 s before evaluation.
  metric(w, 'cpu_usage', 'gauge', { host: 'web-1', job: 'web' }, [
    [0, 50],
    [60, 70],
    [120, 85],
    [180, 90],
    [240, 95],
    [290, 88],
  ]);
  metric(
    w,
    'cpu_usage',
    'gauge',
    { host: 'web-2', job: 'web' },
    [
      [0, 10],
      [150, 20],
      [280, 30],
    ],
    P1,
  );
  metric(w, 'cpu_usage', 'gauge', { host: 'db-1', job: 'db' }, [[-100, 99]], P1);
  // req_total: a running total as remote_write and OTLP cumulative sums store it (a gauge), reset at 200 s.
  metric(w, 'req_total', 'gauge', { job: 'api' }, [
    [0, 0],
    [100, 60],
    [150, 100],
    [200, 20],
    [300, 80],
  ]);
  // req_inc: the same requests as vigil counter increments (the running total 0, 60, 100, 120, 180).
  metric(w, 'req_inc', 'counter', { job: 'api' }, [
    [0, 0],
    [100, 60],
    [150, 40],
    [200, 20],
    [300, 60],
  ]);
  // latency: histogram observations.
  metric(w, 'latency', 'histogram', { job: 'api' }, [
    [100, 0.2],
    [200, 3],
    [250, 0.004],
  ]);
  const ev = (
    t: number,
    source: string,
    level: string | null,
    tags: Record<string, unknown> = {},
    event_type = 'log',
  ) => w.addEvent({ event_type, source, level, tags, timestamp: s(t) }, { topic: 'events', partition: 2 });
  ev(-10, 'api', 'error'); // outside a 5m window at 300
  ev(10, 'api', 'error', { region: 'eu-west', retries: 3 });
  ev(100, 'api', 'error', { region: 'us-east' });
  ev(200, 'api', 'info', { region: 'eu-north' });
  ev(250, 'web', 'error', { region: 'eu-west' }, 'trace');
  ev(300, 'api', 'error');
  return w;
}

function sourceOf(w: WindowStore): SeriesSource {
  return { select: (selector) => [...(selector.name === EVENTS ? w.streams(selector) : w.series(selector.name!))] };
}

function run(query: string, now = s(300), w = store()): [Record<string, string>, number][] {
  const expr = compileQuery({ query, threshold_value: null }, { maxRangeMs: 3_600_000 }).expr;
  const value = new Evaluator(sourceOf(w), { lookbackMs: 300_000 }).instant(expr, now);
  const samples = value.type === 'vector' ? value.samples : [];
  return samples
    .map((x: Sample): [Record<string, string>, number] => [x.labels, x.value])
    .sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0])));
}

describe('rules over live windows', () => {
  it('instant selector: newest sample within the lookback; the comparison keeps the series that hold', () => {
    expect(run('cpu_usage > 80')).toEqual([[{ __name__: 'cpu_usage', host: 'web-1', job: 'web' }, 88]]);
    expect(run('cpu_usage < 50')).toEqual([[{ __name__: 'cpu_usage', host: 'web-2', job: 'web' }, 30]]);
    expect(run('cpu_usage{job="db"} > 0')).toEqual([]); // stale: 400 s old
    expect(run('cpu_usage{host="web-1"} > 0', s(130))).toEqual([
      [{ __name__: 'cpu_usage', host: 'web-1', job: 'web' }, 85],
    ]);
  });

  it('<fn>_over_time over [now - range, now], as Prometheus 2.x', () => {
    // web-1 in [180, 300]: 90, 95, 88.
    expect(run('avg_over_time(cpu_usage{host="web-1"}[2m]) > 0')).toEqual([[{ host: 'web-1', job: 'web' }, 91]]);
    expect(run('max_over_time(cpu_usage{host="web-1"}[2m]) > 0')).toEqual([[{ host: 'web-1', job: 'web' }, 95]]);
    expect(run('count_over_time(cpu_usage{host="web-1"}[2m]) > 0')).toEqual([[{ host: 'web-1', job: 'web' }, 3]]);
  });

  it('rate and increase: counter increments read as a running total, like a cumulative counter with a reset', () => {
    // Cumulative 0, 60, 100, 20 (reset: +100), 80 over [0, 300]: increase 180 over 300 s, no extrapolation needed.
    expect(run('increase(req_total[5m]) > 0')).toEqual([[{ job: 'api' }, 180]]);
    expect(run('increase(req_inc[5m]) > 0')).toEqual([[{ job: 'api' }, 180]]);
    expect(run('rate(req_inc[5m]) > 0')).toEqual(run('rate(req_total[5m]) > 0'));
    expect(run('rate(req_inc[5m]) > 0')).toEqual([[{ job: 'api' }, 0.6]]);
    expect(run('resets(req_inc[5m]) >= 0')).toEqual([[{ job: 'api' }, 0]]);
    expect(run('resets(req_total[5m]) >= 0')).toEqual([[{ job: 'api' }, 1]]);
    // The instant value of an increment counter is its running total.
    expect(run('req_inc > 0')).toEqual([[{ __name__: 'req_inc', job: 'api' }, 180]]);
  });

  it('a counter increment that arrives late counts where it belongs; pruning keeps the running total', () => {
    const w = watching(new WindowStore(), ['c > 0']);
    metric(w, 'c', 'counter', {}, [
      [10, 1],
      [30, 1],
      [20, 5],
      [30, 2],
    ]);
    const series = [...w.series('c')][0];
    expect(series.points.values.slice(series.points.head)).toEqual([1, 6, 9]);
    w.pruneThrough(s(20));
    metric(w, 'c', 'counter', {}, [[40, 1]]);
    expect(series.points.values.slice(series.points.head)).toEqual([9, 10]);
  });

  it('histogram observations as _bucket{le}, _count and _sum running totals', () => {
    expect(run('latency_count > 0')).toEqual([[{ __name__: 'latency_count', job: 'api' }, 3]]);
    expect(run('latency_sum > 0')).toEqual([[{ __name__: 'latency_sum', job: 'api' }, 3.204]]);
    expect(run('latency_bucket{le=~"0.005|0.25|5|\\\\+Inf"} > 0')).toEqual([
      [{ __name__: 'latency_bucket', job: 'api', le: '+Inf' }, 3],
      [{ __name__: 'latency_bucket', job: 'api', le: '0.005' }, 1],
      [{ __name__: 'latency_bucket', job: 'api', le: '0.25' }, 2],
      [{ __name__: 'latency_bucket', job: 'api', le: '5' }, 3],
    ]);
    // Rank 1.5 of 3 lies in (0.1, 0.25] (counts 1 → 2): 0.1 + 0.15 × 0.5.
    expect(run('histogram_quantile(0.5, latency_bucket) > 0')[0][1]).toBeCloseTo(0.175, 12);
  });

  it('aggregations by and without labels', () => {
    expect(run('sum by (job) (cpu_usage) > 0')).toEqual([[{ job: 'web' }, 118]]);
    expect(run('max without (host) (cpu_usage) > 0')).toEqual([[{ job: 'web' }, 88]]);
    expect(run('count by (zone) (cpu_usage) > 0')).toEqual([[{}, 2]]);
  });

  it('events: count and rate of events matching source, level and tags, per (type, source, level) stream', () => {
    const stream = (event_type: string, source: string, level: string) => ({ event_type, source, level });
    // error events from api in [0, 300]: @10, @100, @300 (the one at -10 is outside).
    expect(run('count_over_time(events{level="error", source="api"}[5m]) > 2')).toEqual([
      [stream('log', 'api', 'error'), 3],
    ]);
    expect(run('rate(events{level="error", source="api"}[5m]) > 0')).toEqual([[stream('log', 'api', 'error'), 0.01]]);
    expect(run('count_over_time(events{level="error"}[5m]) > 0')).toEqual([
      [stream('log', 'api', 'error'), 3],
      [stream('trace', 'web', 'error'), 1],
    ]);
    expect(run('sum(count_over_time(events{level="error"}[5m])) >= 4')).toEqual([[{}, 4]]);
    expect(run('sum by (source) (count_over_time(events{region=~"eu-.*"}[5m])) > 0')).toEqual([
      [{ source: 'api' }, 2],
      [{ source: 'web' }, 1],
    ]);
    // A numeric tag compares as its JSON text; type= is event_type.
    expect(run('count_over_time(events{type="log", retries="3"}[5m]) > 0')).toEqual([
      [stream('log', 'api', 'error'), 1],
    ]);
  });

  it('counts events of the same millisecond one by one', () => {
    const w = watching(new WindowStore(), ['count_over_time(events{source="api"}[1m]) > 0']);
    for (let i = 0; i < 3; i++)
      w.addEvent({ event_type: 'log', source: 'api', level: null, tags: {}, timestamp: s(10) }, null);
    expect(run('count_over_time(events{source="api"}[1m]) > 0', s(30), w)).toEqual([
      [{ event_type: 'log', source: 'api', level: '' }, 3],
    ]);
  });
});

describe('windows', () => {
  it('prune old points and empty series, keep only what rules read, and drop lost partitions', () => {
    const w = store();
    expect(w.addMetric('unused_metric', 'gauge', {}, s(0), 1, P0)).toEqual([]);
    // Metric series: cpu 3, req_total, req_inc, latency 21 buckets + count + sum; event streams per selector:
    // error+api 1, error 2, region 3, log+retries 1.
    expect(w.seriesCount).toBe(3 + 2 + 23 + 7);
    // Through 250 s: db-1 (-100) and the histogram (last @250) go; of the events only the api error @300 stays.
    w.pruneThrough(s(250));
    expect(w.seriesCount).toBe(4 + 2);
    w.dropWhere((origin) => origin?.partition === 1);
    expect(run('cpu_usage > 0', s(300), w).map(([labels]) => labels.host)).toEqual(['web-1']);
    expect(w.seriesCount).toBe(3 + 2);
  });

  it('keep points sorted when they arrive out of order, last write wins for a gauge at the same instant', () => {
    const w = watching(new WindowStore(), ['m > 0']);
    metric(w, 'm', 'gauge', {}, [
      [30, 3],
      [10, 1],
      [20, 2],
      [20, 22],
    ]);
    const series = [...w.series('m')][0];
    expect(series.points.times.map((t) => (t - T0) / 1000)).toEqual([10, 20, 30]);
    expect(series.points.values).toEqual([1, 22, 3]);
  });

  it('keep a gauge and a counter of the same name and labels apart, as the query API does', () => {
    const w = watching(new WindowStore(), ['m > 0']);
    metric(w, 'm', 'gauge', { a: '1' }, [[10, 7]]);
    metric(w, 'm', 'counter', { a: '1' }, [
      [10, 2],
      [20, 2],
    ]);
    expect([...w.series('m')].map((x) => x.points.values)).toEqual([[7], [2, 4]]);
    expect(selectorsOf(parseExpr('m')).length).toBe(1);
  });
});
