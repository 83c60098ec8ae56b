import { describe, expect, it } from 'vitest';
import { Evaluator, type StoredSeries } from './engine.ts';
import type { Expr, VectorSelector } from './expr.ts';
import { parseExpr, PromqlError } from './expr-parser.ts';
import { Points } from './windows.ts';

/** The expression written back with explicit parentheses, to check precedence and associativity. */
function show(e: Expr): string {
  switch (e.kind) {
    case 'number':
      return String(e.value);
    case 'string':
      return JSON.stringify(e.value);
    case 'vector':
      return `${e.name ?? ''}{${e.matchers
        .filter((m) => m.label !== '__name__' || e.name === null)
        .map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`)
        .join(',')}}${e.offsetMs ? ` offset ${e.offsetMs}` : ''}`;
    case 'matrix':
      return `${show(e.selector)}[${e.rangeMs}]`;
    case 'call':
      return `${e.fn}(${e.args.map(show).join(', ')})`;
    case 'aggregation':
      return (
        `${e.op}${e.grouping ? ` ${e.grouping.without ? 'without' : 'by'}(${e.grouping.labels.join(',')})` : ''}` +
        `(${e.param ? `${show(e.param)}, ` : ''}${show(e.expr)})`
      );
    case 'binary':
      return (
        `(${show(e.lhs)} ${e.op}${e.returnBool ? ' bool' : ''}` +
        (e.matching
          ? ` ${e.matching.on ? 'on' : 'ignoring'}(${e.matching.labels.join(',')}) ` +
            `${e.matching.card}(${e.matching.include.join(',')})`
          : '') +
        ` ${show(e.rhs)})`
      );
    case 'unary':
      return `(${e.op}${show(e.expr)})`;
    case 'paren':
      return show(e.expr);
  }
}

function error(query: string): string {
  try {
    parseExpr(query);
  } catch (e) {
    if (e instanceof PromqlError) return e.message;
    throw e;
  }
  throw new Error(`expected ${query} to be rejected`);
}

describe('PromQL expression parser', () => {
  it.each([
    ['1 + 2 * 3', '(1 + (2 * 3))'],
    ['2 ^ 3 ^ 2', '(2 ^ (3 ^ 2))'],
    ['-a ^ 2', '(-(a{} ^ 2))'],
    ['a or b and c unless d', '(a{} or ((b{} and c{}) unless d{}))'],
    ['a > bool 1 + 2', '(a{} > bool (1 + 2))'],
    ['sum by (job) (rate(x{a=~"b.*"}[5m]))', 'sum by(job)(rate(x{a=~"b.*"}[300000]))'],
    ['sum(x) without (instance)', 'sum without(instance)(x{})'],
    ['topk(3, x offset 1h)', 'topk(3, x{} offset 3600000)'],
    ['a / on(host) group_left(team) b', '(a{} / on(host) many-to-one(team) b{})'],
    ['a * ignoring(code) group_right b', '(a{} * ignoring(code) one-to-many() b{})'],
    ['{__name__=~"http_.*", job="x"}', '{__name__=~"http_.*",job="x"}'],
    [
      'histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))',
      'histogram_quantile(0.9, sum by(le)(rate(h_bucket{}[300000])))',
    ],
  ])('%s parses as %s', (query, tree) => {
    expect(show(parseExpr(query))).toBe(tree);
  });

  it.each([
    [
      'deriv(x[5m])',
      'function deriv() is not supported by vigil (docs/promql.md lists the supported functions) (at line 1, column 1)',
    ],
    ['nosuch(x)', 'unknown function nosuch() (at line 1, column 1)'],
    ['rate(x)', 'rate() argument 1 must be a range vector, got an instant vector (at line 1, column 1)'],
    ['x[5m]', 'binary operator or a range vector: wrap it'],
    ['1 > 2', 'comparisons between scalars must use the bool modifier (at line 1, column 3)'],
    ['rate(x[5m:1m])', 'subqueries ([range:step]) are not supported (at line 1, column 10)'],
    [
      '{a=""}',
      'a selector needs a metric name or at least one matcher that does not match the empty string ' +
        '(at line 1, column 1)',
    ],
    ['sum(x', 'unexpected end of query: expected ")" to close sum( (at line 1, column 6)'],
    ['x @ 100', 'the @ modifier is not supported (at line 1, column 3)'],
  ])('%s is refused: %s', (query, message) => {
    if (query === 'x[5m]') {
      // A bare range vector parses; evaluating it on its own is the error (as in Prometheus' instant query).
      expect(() => new Evaluator({ select: () => [] }).instant(parseExpr(query), 0)).toThrow(
        /range vector cannot be evaluated/,
      );
      return;
    }
    expect(error(query)).toBe(message);
  });
});

describe('PromQL evaluator', () => {
  const series = (labels: Record<string, string>, points: [number, number][]): StoredSeries => {
    const p = new Points();
    for (const [t, v] of points) p.add(t, v);
    return { labels, points: p };
  };
  const data = [
    series({ __name__: 'up', job: 'a' }, [
      [0, 1],
      [60_000, 1],
    ]),
    series({ __name__: 'up', job: 'b' }, [[0, 0]]),
  ];
  const source = { select: (_s: VectorSelector) => data };

  it('an instant selector reads the newest sample within the 5-minute lookback, inclusive of its start', () => {
    const e = new Evaluator(source);
    expect(e.instant(parseExpr('up'), 300_000)).toEqual({
      type: 'vector',
      samples: [
        { labels: { __name__: 'up', job: 'a' }, value: 1 },
        { labels: { __name__: 'up', job: 'b' }, value: 0 },
      ],
    });
    expect(e.instant(parseExpr('up'), 300_001)).toEqual({
      type: 'vector',
      samples: [{ labels: { __name__: 'up', job: 'a' }, value: 1 }],
    });
  });

  it('a range query evaluates at every step and keeps a series only where it has a value', () => {
    expect(new Evaluator(source).range(parseExpr('sum(up) by (job)'), 0, 360_000, 120_000)).toEqual([
      { labels: { job: 'a' }, times: [0, 120_000, 240_000, 360_000], values: [1, 1, 1, 1] },
      { labels: { job: 'b' }, times: [0, 120_000, 240_000], values: [0, 0, 0] },
    ]);
  });

  it('a range query answers at each step what an instant query at that step answers (windows moved stepwise)', () => {
    // Irregular samples, gaps longer than the lookback, a counter reset: every window edge case the steps cross.
    const rng = (seed: number) => () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const random = rng(7);
    const irregular = ['a', 'b', 'c'].map((job) => {
      const points: [number, number][] = [];
      for (let t = 0, v = 0; t < 3_600_000; t += Math.floor(random() * 400_000))
        points.push([t, (v = random() < 0.1 ? 0 : v + random() * 10)]);
      return series({ __name__: 'req', job }, points);
    });
    const source = { select: () => irregular };
    for (const query of [
      'req',
      'rate(req[5m])',
      'max_over_time(req[2m] offset 1m)',
      'sum(req offset 30s) + count(req)',
    ]) {
      for (const stepMs of [15_000, 60_000, 310_000]) {
        const expr = parseExpr(query);
        const range = new Evaluator(source).range(expr, 0, 3_600_000, stepMs);
        const expected = new Map<number, Map<string, number>>();
        for (let t = 0; t <= 3_600_000; t += stepMs) {
          const value = new Evaluator(source).instant(expr, t);
          if (value.type !== 'vector') throw new Error('expected a vector');
          expected.set(t, new Map(value.samples.map((x) => [JSON.stringify(x.labels), x.value])));
        }
        const actual = new Map<number, Map<string, number>>([...expected.keys()].map((t) => [t, new Map()]));
        for (const r of range) r.times.forEach((t, i) => actual.get(t)!.set(JSON.stringify(r.labels), r.values[i]));
        expect({ query, stepMs, actual }).toEqual({ query, stepMs, actual: expected });
      }
    }
  });
});
