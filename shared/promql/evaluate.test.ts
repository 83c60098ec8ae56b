/**
 * Every construct of the rule language against results computed by hand from the samples below (times in seconds
 * from T0, evaluation at T0 + 300 s unless a test says otherwise).
 */
import { describe, expect, it } from 'vitest';
import type { RangeCall } from './ast.ts';
import { compare, evaluate, type Element } from './evaluate.ts';
import { parseRule } from './parser.ts';
import { WindowStore, type Origin } from './windows.ts';

const T0 = 1_700_000_000_000;
const s = (seconds: number) => T0 + seconds * 1000;
const P0: Origin = { topic: 'metrics', partition: 0 };
const P1: Origin = { topic: 'metrics', partition: 1 };

function store(): WindowStore {
  const w = new WindowStore();
  const rules = [
    'cpu_usage',
    'req_total',
    'temp',
    'count_over_time(events{level="error", source="api"}[5m])',
    'count_over_time(events{level="error"}[5m])',
    'count_over_time(events{region=~"eu-.*"}[5m])',
    'count_over_time(events{type="log", retries="3"}[5m])',
  ];
  w.setSelectors(
    rules.map((q) => {
      const { expr } = parseRule(q, { maxRangeMs: 3_600_000 });
      return expr.kind === 'range_call' ? expr.selector : (expr as never);
    }),
  );
  // cpu_usage: web-1 rises above 80, web-2 stays low, db-1 stopped reporting 400 s before evaluation.
  for (const [t, v] of [
    [0, 50],
    [60, 70],
    [120, 85],
    [180, 90],
    [240, 95],
    [290, 88],
  ])
    w.addMetric('cpu_usage', { host: 'web-1', job: 'web' }, s(t), v, P0);
  for (const [t, v] of [
    [0, 10],
    [150, 20],
    [280, 30],
  ])
    w.addMetric('cpu_usage', { host: 'web-2', job: 'web' }, s(t), v, P1);
  w.addMetric('cpu_usage', { host: 'db-1', job: 'db' }, s(-100), 99, P1);
  // req_total: a counter with a reset at 200 s (100 → 20).
  for (const [t, v] of [
    [0, 0],
    [100, 60],
    [150, 100],
    [200, 20],
    [300, 80],
  ])
    w.addMetric('req_total', { job: 'api' }, s(t), v, P0);
  // events
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

function run(query: string, now = s(300), lookbackMs = 300_000): Element[] {
  const rule = parseRule(query, { maxRangeMs: 3_600_000 });
  const elements = evaluate(rule.expr, { now, lookbackMs, data: store() });
  const result = rule.comparison ? compare(elements, rule.comparison) : elements;
  return result.sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)));
}

const values = (elements: Element[]) => elements.map((e) => [e.labels, e.value]);

describe('evaluation', () => {
  it('instant selector: newest sample within the lookback; stale series drop out', () => {
    expect(run('cpu_usage')).toEqual([
      { labels: { host: 'web-1', job: 'web' }, value: 88, origin: P0 },
      { labels: { host: 'web-2', job: 'web' }, value: 30, origin: P1 },
    ]);
    // db-1's last sample is 400 s old: stale with a 5m lookback, visible with a 10m one.
    expect(values(run('cpu_usage{job="db"}', s(300), 600_000))).toEqual([[{ host: 'db-1', job: 'db' }, 99]]);
    // Evaluated in the past, the newest sample at or before that instant counts.
    expect(values(run('cpu_usage{host="web-1"}', s(130)))).toEqual([[{ host: 'web-1', job: 'web' }, 85]]);
  });

  it('the example rule of the contract: cpu_usage > 80 keeps only the series above 80, with their value', () => {
    expect(values(run('cpu_usage > 80'))).toEqual([[{ host: 'web-1', job: 'web' }, 88]]);
    expect(values(run('cpu_usage > 88'))).toEqual([]);
    expect(values(run('cpu_usage >= 88'))).toEqual([[{ host: 'web-1', job: 'web' }, 88]]);
    expect(values(run('cpu_usage < 50'))).toEqual([[{ host: 'web-2', job: 'web' }, 30]]);
    expect(values(run('cpu_usage <= 30'))).toEqual([[{ host: 'web-2', job: 'web' }, 30]]);
    expect(values(run('cpu_usage == 30'))).toEqual([[{ host: 'web-2', job: 'web' }, 30]]);
    expect(values(run('cpu_usage != 30'))).toEqual([[{ host: 'web-1', job: 'web' }, 88]]);
  });

  it('label matchers =, !=, =~, !~ (a missing label matches as "")', () => {
    expect(values(run('cpu_usage{host="web-2"}'))).toEqual([[{ host: 'web-2', job: 'web' }, 30]]);
    expect(values(run('cpu_usage{host!="web-2"}'))).toEqual([[{ host: 'web-1', job: 'web' }, 88]]);
    expect(values(run('cpu_usage{host=~"web-.*"}'))).toHaveLength(2);
    expect(values(run('cpu_usage{host=~"web"}'))).toEqual([]); // anchored
    expect(values(run('cpu_usage{host!~"web-1|db-.*"}'))).toEqual([[{ host: 'web-2', job: 'web' }, 30]]);
    expect(values(run('cpu_usage{zone=""}'))).toHaveLength(2);
    expect(values(run('cpu_usage{zone!=""}'))).toEqual([]);
  });

  it('<fn>_over_time over (now - range, now]', () => {
    // web-1 in (180, 300]: 95 @240, 88 @290 (the 90 @180 is exactly at the window start: excluded).
    expect(values(run('avg_over_time(cpu_usage{host="web-1"}[2m])'))).toEqual([[{ host: 'web-1', job: 'web' }, 91.5]]);
    expect(values(run('max_over_time(cpu_usage{host="web-1"}[2m])'))).toEqual([[{ host: 'web-1', job: 'web' }, 95]]);
    expect(values(run('min_over_time(cpu_usage{host="web-1"}[2m])'))).toEqual([[{ host: 'web-1', job: 'web' }, 88]]);
    expect(values(run('sum_over_time(cpu_usage{host="web-1"}[2m])'))).toEqual([[{ host: 'web-1', job: 'web' }, 183]]);
    expect(values(run('count_over_time(cpu_usage{host="web-1"}[2m])'))).toEqual([[{ host: 'web-1', job: 'web' }, 2]]);
    // (0, 300]: 70, 85, 90, 95, 88 → avg 85.6; web-2 (0, 300]: 20, 30 → 25.
    expect(values(run('avg_over_time(cpu_usage{job="web"}[5m]) > 80'))).toEqual([
      [{ host: 'web-1', job: 'web' }, 85.6],
    ]);
    expect(values(run('avg_over_time(cpu_usage[5m]) < 80'))).toEqual([[{ host: 'web-2', job: 'web' }, 25]]);
    // No sample in the window: no result (db-1).
    expect(values(run('max_over_time(cpu_usage{job="db"}[5m])'))).toEqual([]);
  });

  it('rate and increase of a counter, across a reset', () => {
    // (0, 300]: 60 @100, 100 @150, 20 @200 (reset: +20), 80 @300 → increase 40 + 20 + 60 = 120 over 200 s.
    expect(values(run('increase(req_total[5m])'))).toEqual([[{ job: 'api' }, 120]]);
    expect(values(run('rate(req_total[5m])'))).toEqual([[{ job: 'api' }, 0.6]]);
    expect(values(run('rate(req_total[5m]) > 0.5'))).toEqual([[{ job: 'api' }, 0.6]]);
    // One sample in (200, 300]: no rate.
    expect(values(run('rate(req_total[100s])'))).toEqual([]);
    // [0, 150] at 150 with a 151 s range: 0, 60, 100 → 100 / 150 s.
    expect(values(run('rate(req_total[151s])', s(150)))[0][1]).toBeCloseTo(100 / 150, 12);
  });

  it('sum, avg, max, min and count by labels; without by, one group without labels', () => {
    // web: 88 + 30; db-1 is stale.
    expect(values(run('sum by (job) (cpu_usage)'))).toEqual([[{ job: 'web' }, 118]]);
    expect(values(run('avg by (job) (cpu_usage)'))).toEqual([[{ job: 'web' }, 59]]);
    expect(values(run('max by (job) (cpu_usage)'))).toEqual([[{ job: 'web' }, 88]]);
    expect(values(run('min by (job) (cpu_usage)'))).toEqual([[{ job: 'web' }, 30]]);
    expect(values(run('count by (job) (cpu_usage)'))).toEqual([[{ job: 'web' }, 2]]);
    expect(values(run('sum(cpu_usage)'))).toEqual([[{}, 118]]);
    expect(run('sum(cpu_usage)')[0].origin).toBeNull();
    // With a 10m lookback db-1 counts: two groups.
    expect(values(run('max by (job) (cpu_usage) > 90', s(300), 600_000))).toEqual([[{ job: 'db' }, 99]]);
    expect(values(run('sum by (host) (avg_over_time(cpu_usage{job="web"}[2m])) > 50'))).toEqual([
      [{ host: 'web-1' }, 91.5],
    ]);
    // A `by` label no series has: one group with no labels.
    expect(values(run('count by (zone) (cpu_usage)'))).toEqual([[{}, 2]]);
  });

  it('events: count and rate of events matching source, level, tags in a window, per (type, source, level)', () => {
    // error events from api in (0, 300]: @10, @100, @300 (the one at -10 is outside).
    expect(run('count_over_time(events{level="error", source="api"}[5m]) > 2')).toEqual([
      {
        labels: { event_type: 'log', source: 'api', level: 'error' },
        value: 3,
        origin: { topic: 'events', partition: 2 },
      },
    ]);
    expect(values(run('count_over_time(events{level="error", source="api"}[5m]) > 3'))).toEqual([]);
    expect(values(run('rate(events{level="error", source="api"}[5m])'))).toEqual([
      [{ event_type: 'log', source: 'api', level: 'error' }, 0.01],
    ]);
    // Per stream: api errors (3) and web trace errors (1).
    expect(values(run('count_over_time(events{level="error"}[5m])'))).toEqual([
      [{ event_type: 'log', source: 'api', level: 'error' }, 3],
      [{ event_type: 'trace', source: 'web', level: 'error' }, 1],
    ]);
    expect(values(run('sum(count_over_time(events{level="error"}[5m])) >= 4'))).toEqual([[{}, 4]]);
    // Tags: region=~eu-.* → api error @10 (eu-west), api info @200 (eu-north), web trace @250 (eu-west).
    expect(values(run('sum by (source) (count_over_time(events{region=~"eu-.*"}[5m]))'))).toEqual([
      [{ source: 'api' }, 2],
      [{ source: 'web' }, 1],
    ]);
    // A numeric tag compares as its JSON text; type= is event_type.
    expect(values(run('count_over_time(events{type="log", retries="3"}[5m])'))).toEqual([
      [{ event_type: 'log', source: 'api', level: 'error' }, 1],
    ]);
  });
});

describe('windows', () => {
  it('prunes old points and empty series, keeps only what rules read, and drops lost partitions', () => {
    const w = store();
    expect(w.addMetric('unused_metric', {}, s(0), 1, P0)).toBeNull();
    // 4 metric series; event streams per selector: error+api 1, error 2, region 3, log+retries 1.
    expect(w.seriesCount).toBe(4 + 7);
    // Through 250 s: db-1 (-100) goes; web-2 keeps @280, web-1 @290, req @300; of the events only the api
    // error @300 stays, in the error+api and error windows.
    w.pruneThrough(s(250));
    expect(w.seriesCount).toBe(3 + 2);
    w.dropWhere((origin) => origin?.partition === 1);
    const after = evaluate(parseRule('cpu_usage', { maxRangeMs: 1 }).expr, {
      now: s(300),
      lookbackMs: 300_000,
      data: w,
    });
    expect(after.map((e) => e.labels.host)).toEqual(['web-1']);
    expect(w.seriesCount).toBe(2 + 2);
  });

  it('keeps points sorted when they arrive out of order, last write wins for the same instant', () => {
    const w = new WindowStore();
    w.setSelectors([{ kind: 'selector', source: 'metric', name: 'm', matchers: [], pos: 0 }]);
    for (const [t, v] of [
      [30, 3],
      [10, 1],
      [20, 2],
      [20, 22],
    ])
      w.addMetric('m', {}, s(t), v, null);
    const series = [...w.series('m')][0];
    expect(series.points.times.map((t) => (t - T0) / 1000)).toEqual([10, 20, 30]);
    expect(series.points.values).toEqual([1, 22, 3]);
  });

  it('counts events of the same millisecond one by one', () => {
    const w = new WindowStore();
    const { expr } = parseRule('count_over_time(events{source="api"}[1m])', { maxRangeMs: 60_000 });
    w.setSelectors([(expr as RangeCall).selector]);
    for (let i = 0; i < 3; i++)
      w.addEvent({ event_type: 'log', source: 'api', level: null, tags: {}, timestamp: s(10) }, null);
    expect(values(evaluate(expr, { now: s(30), lookbackMs: 1, data: w }))).toEqual([
      [{ event_type: 'log', source: 'api', level: '' }, 3],
    ]);
  });
});
