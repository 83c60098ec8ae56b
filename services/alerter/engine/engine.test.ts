/**
 * The engine with a hand-driven clock: arrival-driven evaluation, the tick (for elapses, stale series resolve),
 * partitions that are not ready yet, aggregations only on the leader, and rule changes.
 */
import { describe, expect, it } from 'vitest';
import { compileQuery } from '../../../shared/promql/compile.ts';
import type { Origin } from '../../../shared/promql/windows.ts';
import type { EngineRule } from '../rules/rule.ts';
import { AlertEngine } from './engine.ts';

const P0: Origin = { topic: 'm', partition: 0 };
const P1: Origin = { topic: 'm', partition: 1 };

function rule(id: string, query: string, forMs = 0, keepFiringForMs = 0): EngineRule {
  return {
    id,
    name: id,
    description: null,
    query,
    threshold_value: null,
    forMs,
    keepFiringForMs,
    severity: 'medium',
    labels: {},
    annotations: {},
    enabled: true,
    createdBy: null,
    createdAt: new Date(0),
    updatedAt: new Date(0),
    revision: '1',
    ...compileQuery({ query, threshold_value: null }, { maxRangeMs: 3_600_000 }),
  };
}

function engine(ready: (o: Origin | null) => boolean = () => true) {
  return new AlertEngine({ lookbackMs: 10_000, isReady: ready });
}

const summary = (changes: {
  transitions: { ruleId: string; labels: Record<string, string>; from: string; to: string; at: number }[];
}) => changes.transitions.map((t) => `${t.ruleId} ${JSON.stringify(t.labels)} ${t.from}→${t.to} @${t.at}`);

describe('AlertEngine', () => {
  it('evaluates arriving samples for their series only, and lets `for` elapse on the tick', () => {
    const e = engine();
    e.setRules([rule('cpu', 'cpu > 80', 3000)], 0);
    e.ingestMetric('cpu', { host: 'a' }, 1000, 90, P0, true);
    e.ingestMetric('cpu', { host: 'b' }, 1000, 10, P1, true);
    expect(summary(e.evaluateTouched(1000))).toEqual(['cpu {"host":"a"} inactive→pending @1000']);
    expect(summary(e.evaluateAll(3999))).toEqual([]);
    expect(summary(e.evaluateAll(4000))).toEqual(['cpu {"host":"a"} pending→firing @4000']);
    // No sample since 1000: stale once older than the 10 s lookback ([t - 10 s, t] holds it at 11000, as in
    // Prometheus 2.x), resolved by the tick.
    expect(summary(e.evaluateAll(11_000))).toEqual([]);
    expect(summary(e.evaluateAll(11_001))).toEqual(['cpu {"host":"a"} firing→resolved @11001']);
    expect(e.instanceCount).toBe(0);
  });

  it('does not judge partitions that are still re-reading their windows', () => {
    let p1Ready = false;
    const e = engine((o) => o === null || o.partition === 0 || p1Ready);
    e.setRules([rule('cpu', 'cpu > 80')], 0);
    e.ingestMetric('cpu', { host: 'a' }, 1000, 90, P0, true);
    e.ingestMetric('cpu', { host: 'b' }, 1000, 95, P1, true);
    expect(summary(e.evaluateTouched(1000))).toEqual(['cpu {"host":"a"} inactive→firing @1000']);
    e.loadInstances([
      {
        ruleId: 'cpu',
        fingerprint: 'x',
        labels: { host: 'gone' },
        state: 'firing',
        value: 99,
        activeAt: 0,
        firedAt: 0,
        keepFiringSince: null,
        origin: P1,
      },
    ]);
    expect(summary(e.evaluateAll(2000))).toEqual([]); // P1 not ready: neither b fires nor the loaded instance resolves
    p1Ready = true;
    expect(summary(e.evaluateAll(2000)).sort()).toEqual([
      'cpu {"host":"b"} inactive→firing @2000',
      'cpu {"host":"gone"} firing→resolved @2000',
    ]);
  });

  it('evaluates aggregations only when the leader is ready, and on arrival of any series they read', () => {
    let leader = false;
    const e = engine((o) => (o === null ? leader : true));
    e.setRules([rule('sum', 'sum by (job) (req) > 10')], 0);
    e.ingestMetric('req', { job: 'api', host: 'a' }, 1000, 6, P0, true);
    e.ingestMetric('req', { job: 'api', host: 'b' }, 1000, 6, P1, true);
    expect(summary(e.evaluateTouched(1000))).toEqual([]);
    leader = true;
    e.ingestMetric('req', { job: 'api', host: 'b' }, 1500, 7, P1, true);
    const changes = e.evaluateTouched(1500);
    expect(summary(changes)).toEqual(['sum {"job":"api"} inactive→firing @1500']);
    expect(changes.ops).toEqual([{ kind: 'upsert', instance: expect.objectContaining({ value: 13, origin: null }) }]);
  });

  it('retires the instances of removed or changed rules and keeps those of rules whose timing changed', () => {
    const e = engine();
    e.setRules([rule('a', 'x > 1'), rule('b', 'x > 2'), rule('c', 'x > 3')], 0);
    e.ingestMetric('x', {}, 1000, 5, P0, true);
    expect(e.evaluateTouched(1000).transitions).toHaveLength(3);
    const changes = e.setRules([rule('a', 'x > 1', 60_000), rule('b', 'x > 4')], 2000);
    expect(summary(changes).sort()).toEqual(['b {} firing→resolved @2000', 'c {} firing→resolved @2000']);
    expect(changes.transitions.map((t) => t.rule?.name).sort()).toEqual(['b', 'c']);
    expect(e.instanceCount).toBe(1);
  });

  it('combines partial figures of every partition into exact aggregations', () => {
    const rules = ['sum', 'avg', 'max', 'min', 'count'].map((op) => rule(op, `${op} by (job) (req) > -1`));
    const [a, b, leader] = [engine(), engine(), engine()];
    for (const e of [a, b, leader]) e.setRules(rules, 0);
    // a holds partition 0 (1 and 5), b partition 1 (3 and, in another job, 100).
    a.ingestMetric('req', { job: 'api', host: 'h1' }, 1000, 1, P0, false);
    a.ingestMetric('req', { job: 'api', host: 'h2' }, 1000, 5, P0, false);
    b.ingestMetric('req', { job: 'api', host: 'h3' }, 1000, 3, P1, false);
    b.ingestMetric('req', { job: 'db', host: 'h4' }, 1000, 100, P1, false);
    const partials = [...a.partials(1000), ...b.partials(1000)];
    expect(partials.filter((p) => p.ruleId === 'sum').map((p) => [p.origin.partition, p.labels, p.figures])).toEqual([
      [0, { job: 'api' }, { sum: 6, count: 2, min: 1, max: 5 }],
      [1, { job: 'api' }, { sum: 3, count: 1, min: 3, max: 3 }],
      [1, { job: 'db' }, { sum: 100, count: 1, min: 100, max: 100 }],
    ]);
    leader.setCombined(partials);
    const values = leader
      .evaluateAll(2000)
      .transitions.map((t) => `${t.ruleId} ${t.labels.job} ${t.value}`)
      .sort();
    expect(values).toEqual([
      'avg api 3',
      'avg db 100',
      'count api 3',
      'count db 1',
      'max api 5',
      'max db 100',
      'min api 1',
      'min db 100',
      'sum api 9',
      'sum db 100',
    ]);
  });

  it('forgets the windows and instances of lost partitions', () => {
    const e = engine();
    e.setRules([rule('cpu', 'cpu > 80')], 0);
    e.ingestMetric('cpu', { host: 'a' }, 1000, 90, P0, true);
    e.ingestMetric('cpu', { host: 'b' }, 1000, 90, P1, true);
    e.evaluateTouched(1000);
    e.dropWhere((o) => o?.partition === 1);
    expect(e.instanceCount).toBe(1);
    expect(e.windows.seriesCount).toBe(1);
    expect(summary(e.evaluateAll(2000))).toEqual([]); // b is not this engine's to resolve
  });

  it("caps a rule's instances: the series beyond it raise ONE cardinality alert, resolved once all fit", () => {
    let refused = 0;
    const e = new AlertEngine({
      lookbackMs: 10_000,
      isReady: () => true,
      maxInstancesPerRule: 3,
      onRefused: (n) => (refused += n),
    });
    e.setRules([rule('cpu', 'cpu > 80'), rule('mem', 'mem > 1')], 0);
    for (let i = 0; i < 10; i++) e.ingestMetric('cpu', { host: `h${i}` }, 1000, 90, P0, true);
    e.ingestMetric('mem', { host: 'h0' }, 1000, 5, P1, true);
    const first = e.evaluateTouched(1000);
    expect(summary(first).filter((t) => t.startsWith('cpu'))).toEqual([
      'cpu {"host":"h0"} inactive→firing @1000',
      'cpu {"host":"h1"} inactive→firing @1000',
      'cpu {"host":"h2"} inactive→firing @1000',
      'cpu {"vigil_alert":"cardinality_exceeded"} inactive→firing @1000',
    ]);
    expect(first.transitions.find((t) => t.labels.vigil_alert)).toMatchObject({
      value: 7,
      origin: P0,
      rule: { name: 'cpu' },
    });
    // another rule: its own cap
    expect(summary(first).filter((t) => t.startsWith('mem'))).toEqual(['mem {"host":"h0"} inactive→firing @1000']);
    expect(e.instanceCount).toBe(5);
    expect(refused).toBe(7);
    // The tick sees all ten again: still over the cap, nothing new, no second cardinality alert.
    expect(summary(e.evaluateAll(2000))).toEqual([]);
    expect(e.instanceCount).toBe(5);
    expect(refused).toBe(14);
    // Over its cap, a slot freed by a resolution is not refilled (no churn while the flood recedes).
    e.ingestMetric('cpu', { host: 'h0' }, 2500, 10, P0, true);
    expect(summary(e.evaluateTouched(2500))).toEqual(['cpu {"host":"h0"} firing→resolved @2500']);
    expect(summary(e.evaluateAll(2500))).toEqual([]);
    expect(e.instanceCount).toBe(4); // h1, h2, the cardinality alert, and mem's
    // The other series drop: everything fits, the cardinality alert resolves on the next full evaluation.
    for (let i = 3; i < 10; i++) e.ingestMetric('cpu', { host: `h${i}` }, 3000, 10, P0, true);
    expect(summary(e.evaluateTouched(3000))).toEqual([]);
    expect(summary(e.evaluateAll(3000))).toEqual(['cpu {"vigil_alert":"cardinality_exceeded"} firing→resolved @3000']);
    // Under the cap again, a series that holds gets its instance.
    e.ingestMetric('cpu', { host: 'h9' }, 4000, 95, P0, true);
    expect(summary(e.evaluateTouched(4000))).toEqual(['cpu {"host":"h9"} inactive→firing @4000']);
    expect(e.instanceCount).toBe(4);
  });

  it('fires a rule on rate() of a vigil counter at the rate of its running total', () => {
    const e = engine();
    e.setRules([rule('orders', 'rate(orders_total[10m]) > 0.02')], 0);
    // Increments of 3 every 60 s: running totals 3, 6, 9, 12, 15 (read as totals they would be flat: rate 0).
    for (const t of [0, 60, 120, 180, 240])
      e.ingestMetric('orders_total', { shop: 'eu' }, t * 1000, 3, P0, false, 'counter');
    // At 360 s: increase 12 over 240 s sampled; towards the start only to where the counter would be zero (60 s),
    // towards the end half an interval (120 s is beyond 110% of it): 12 × 330 / 240 / 600 s.
    const changes = e.evaluateAll(360_000);
    expect(summary(changes)).toEqual(['orders {"shop":"eu"} inactive→firing @360000']);
    expect(changes.transitions[0].value).toBeCloseTo(0.0275, 12);
    expect(changes.ops).toEqual([{ kind: 'upsert', instance: expect.objectContaining({ origin: P0 }) }]);
  });

  it('judges a rule that combines two metrics once, with origin null, only where aggregations are evaluated', () => {
    let leader = false;
    const e = engine((o) => (o === null ? leader : true));
    e.setRules([rule('ratio', 'errors / ignoring(kind) requests > 0.1')], 0);
    e.ingestMetric('errors', { job: 'api', kind: 'e' }, 1000, 3, P0, true);
    e.ingestMetric('requests', { job: 'api' }, 1000, 20, P1, true);
    expect(summary(e.evaluateTouched(1000))).toEqual([]);
    leader = true;
    const changes = e.evaluateAll(1000);
    // ignoring(kind): the one-to-one result drops it.
    expect(summary(changes)).toEqual(['ratio {"job":"api"} inactive→firing @1000']);
    expect(changes.ops).toEqual([{ kind: 'upsert', instance: expect.objectContaining({ value: 0.15, origin: null }) }]);
  });

  it('keeps the partition of a per-series rule whose result has labels of its own (label_replace)', () => {
    const e = engine();
    e.setRules([rule('cpu', 'label_replace(cpu, "node", "n-$1", "host", "(.*)") > 80')], 0);
    e.ingestMetric('cpu', { host: 'a' }, 1000, 90, P0, true);
    e.ingestMetric('cpu', { host: 'b' }, 1000, 95, P1, true);
    const changes = e.evaluateTouched(1000);
    expect(summary(changes).sort()).toEqual([
      'cpu {"host":"a","node":"n-a"} inactive→firing @1000',
      'cpu {"host":"b","node":"n-b"} inactive→firing @1000',
    ]);
    expect(
      changes.ops.map((op) => (op.kind === 'upsert' ? [op.instance.labels.host, op.instance.origin] : null)).sort(),
    ).toEqual([
      ['a', P0],
      ['b', P1],
    ]);
    // The series goes quiet: stale after the lookback, its instance resolves on the tick.
    expect(summary(e.evaluateAll(11_001)).sort()).toEqual([
      'cpu {"host":"a","node":"n-a"} firing→resolved @11001',
      'cpu {"host":"b","node":"n-b"} firing→resolved @11001',
    ]);
  });

  it('combines partials of an aggregation grouped without labels, and of one under another aggregation', () => {
    const rules = [rule('w', 'sum without (host) (req) > 0'), rule('nested', 'max(sum by (job) (req)) > 0')];
    const [a, b, leader] = [engine(), engine(), engine()];
    for (const e of [a, b, leader]) e.setRules(rules, 0);
    a.ingestMetric('req', { job: 'api', host: 'h1' }, 1000, 1, P0, false);
    b.ingestMetric('req', { job: 'api', host: 'h2' }, 1000, 3, P1, false);
    b.ingestMetric('req', { job: 'db', host: 'h3' }, 1000, 2, P1, false);
    leader.setCombined([...a.partials(1000), ...b.partials(1000)]);
    const values = leader
      .evaluateAll(2000)
      .transitions.map((t) => `${t.ruleId} ${JSON.stringify(t.labels)} ${t.value}`)
      .sort();
    expect(values).toEqual(['nested {} 4', 'w {"job":"api"} 4', 'w {"job":"db"} 2']);
  });
});
