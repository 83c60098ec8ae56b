import { describe, expect, it } from 'vitest';
import { parseRule } from './parser.ts';
import { RuleSyntaxError } from './lexer.ts';
import { compileQuery, ThresholdMismatchError } from './compile.ts';
import { formatDuration, parseDuration } from './duration.ts';

const opts = { maxRangeMs: 3_600_000 };
const parse = (q: string) => parseRule(q, opts);

/** Strips positions and compiled regexes so that trees compare by shape. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'pos' && k !== 'regex')
        .map(([k, v]) => [k, shape(v)]),
    );
  }
  return value;
}

function syntaxError(query: string): RuleSyntaxError {
  try {
    parse(query);
  } catch (error) {
    if (error instanceof RuleSyntaxError) return error;
    throw error;
  }
  throw new Error(`expected ${query} to be rejected`);
}

const sel = (name: string, matchers: unknown[] = [], source = 'metric') => ({
  kind: 'selector',
  source,
  name,
  matchers,
});

describe('rule language parser', () => {
  it('parses the example rule of the contract', () => {
    expect(shape(parse('cpu_usage > 80'))).toEqual({ expr: sel('cpu_usage'), comparison: { op: '>', threshold: 80 } });
  });

  it('parses every comparison operator and number form', () => {
    for (const op of ['>', '>=', '<', '<=', '==', '!='])
      expect(shape(parse(`x ${op} 1.5`).comparison)).toEqual({ op, threshold: 1.5 });
    expect(parse('x < -3').comparison!.threshold).toBe(-3);
    expect(parse('x > 1e3').comparison!.threshold).toBe(1000);
    expect(parse('x > .5').comparison!.threshold).toBe(0.5);
    expect(parse('x').comparison).toBeNull();
  });

  it('parses label matchers with all four operators, both quotes and escapes', () => {
    const rule = parse(`http_errors{job="api", env!='dev', path=~"/v1/.*", code!~"2..", q="a\\"b",} > 0`);
    expect(shape(rule.expr)).toEqual(
      sel('http_errors', [
        { label: 'job', op: '=', value: 'api' },
        { label: 'env', op: '!=', value: 'dev' },
        { label: 'path', op: '=~', value: '/v1/.*' },
        { label: 'code', op: '!~', value: '2..' },
        { label: 'q', op: '=', value: 'a"b' },
      ]),
    );
    const path = (rule.expr as { matchers: { regex?: RegExp }[] }).matchers[2].regex!;
    expect(path.test('/v1/users')).toBe(true);
    expect(path.test('x/v1/users')).toBe(false); // anchored like PromQL
  });

  it('parses every range function with a duration', () => {
    for (const fn of [
      'avg_over_time',
      'max_over_time',
      'min_over_time',
      'sum_over_time',
      'count_over_time',
      'rate',
      'increase',
    ]) {
      expect(shape(parse(`${fn}(m{a='b'}[1m30s]) > 1`).expr)).toEqual({
        kind: 'range_call',
        fn,
        selector: sel('m', [{ label: 'a', op: '=', value: 'b' }]),
        rangeMs: 90_000,
      });
    }
  });

  it('parses aggregations with by before or after the argument', () => {
    for (const op of ['sum', 'avg', 'max', 'min', 'count']) {
      expect(shape(parse(`${op} by (job, env) (rate(req_total[5m])) > 10`).expr)).toEqual({
        kind: 'aggregate',
        op,
        by: ['job', 'env'],
        expr: { kind: 'range_call', fn: 'rate', selector: sel('req_total'), rangeMs: 300_000 },
      });
    }
    expect(shape(parse('sum(rate(req_total[5m])) by (job) > 1').expr)).toMatchObject({
      kind: 'aggregate',
      op: 'sum',
      by: ['job'],
    });
    expect(shape(parse('max(cpu_usage) > 1').expr)).toEqual({
      kind: 'aggregate',
      op: 'max',
      by: null,
      expr: sel('cpu_usage'),
    });
    expect(shape(parse('sum by () (cpu_usage) > 1').expr)).toMatchObject({ by: [] });
  });

  it('parses event conditions: count and rate of events matching type, source, level and tags', () => {
    const rule = parse('count_over_time(events{type="log", source="api", level="error", region=~"eu-.*"}[5m]) > 50');
    expect(shape(rule)).toEqual({
      expr: {
        kind: 'range_call',
        fn: 'count_over_time',
        selector: sel(
          'events',
          [
            { label: 'event_type', op: '=', value: 'log' },
            { label: 'source', op: '=', value: 'api' },
            { label: 'level', op: '=', value: 'error' },
            { label: 'region', op: '=~', value: 'eu-.*' },
          ],
          'events',
        ),
        rangeMs: 300_000,
      },
      comparison: { op: '>', threshold: 50 },
    });
    expect(shape(parse('sum by (source) (rate(events{level="error"}[1m])) > 0.5').expr)).toMatchObject({
      kind: 'aggregate',
      by: ['source'],
    });
  });

  it('ignores whitespace, newlines and comments', () => {
    expect(shape(parse('# high cpu\n  cpu_usage\n    >\n 80 # percent'))).toEqual(shape(parse('cpu_usage>80')));
  });

  const errors: [string, string, number][] = [
    ['', 'the query is empty', 0],
    ['cpu_usage >', 'expected a number after the comparison', 11],
    ['cpu_usage > abc', 'expected a number', 12],
    ['cpu_usage > 80 and mem > 3', 'combining conditions with and/or/unless is not supported', 15],
    ['cpu_usage{job="a" > 80', 'expected "," between matchers', 18],
    ['cpu_usage{job=a} > 80', 'expected a quoted string', 14],
    ['cpu_usage{job~"a"} > 80', 'unexpected character "~"', 13],
    ['cpu_usage{job="a} > 80', 'unterminated string', 14],
    ['cpu_usage{__name__="a"} > 80', 'reserved', 10],
    ['cpu_usage{path=~"("} > 80', 'invalid regular expression', 16],
    ['{job="a"} > 80', 'needs a metric name', 0],
    ['cpu_usage[5m] > 80', 'a range [..] goes inside a function', 9],
    ['rate(cpu_usage) > 80', 'needs a range', 14],
    ['rate(cpu_usage[5x]) > 1', '"5x" is neither a number nor a duration', 15],
    ['rate(cpu_usage[0s]) > 1', 'longer than 0s', 15],
    ['rate(cpu_usage[2h]) > 1', 'longer than the longest allowed, 1h', 15],
    ['rate(cpu_usage[5m) > 1', 'expected "]" to close the range', 17],
    ['rate(cpu_usage[5m] > 1', 'expected ")" to close rate(', 19],
    ['rate(sum(cpu_usage)[5m]) > 1', 'takes a range selector', 5],
    ['median_over_time(x[5m]) > 1', 'unknown function median_over_time()', 0],
    ['sum without (job) (x) > 1', '`without` is not supported', 4],
    ['sum by (job job) (x) > 1', 'expected "," between label names', 12],
    ['sum by (job, job) (x) > 1', 'listed twice', 13],
    ['sum by job (x) > 1', 'expected "(" after by', 7],
    ['sum(x > 1', 'expected ")" to close sum(', 6],
    ['events > 3', 'events have no value', 0],
    ['avg_over_time(events{level="error"}[5m]) > 1', 'needs metric values', 0],
    ['count_over_time(events{level="bad"}[5m]) > 1', 'level is one of trace, debug, info, warn, error, fatal', 29],
    ['count_over_time(events{type="bogus"}[5m]) > 1', 'event_type is one of log, metric, trace, alert', 28],
    ['x > 80 > 90', 'expected a comparison', 7],
  ];
  it.each(errors)('rejects %j with a message and the position', (query, message, position) => {
    const error = syntaxError(query);
    expect(error.message).toContain(message);
    expect(error.position).toBe(position);
  });

  it('reports line and column and an excerpt with a caret', () => {
    const error = syntaxError('cpu_usage\n  > oops');
    expect([error.line, error.column]).toEqual([2, 5]);
    expect(error.message).toMatch(/\(at line 2, column 5\)$/);
    expect(error.excerpt).toBe('  > oops\n    ^');
  });
});

describe('compileQuery', () => {
  it('uses threshold_value as `>` when the query is a bare selector (the form of the contract)', () => {
    const compiled = compileQuery({ query: 'cpu_usage', threshold_value: 80 }, opts);
    expect(shape(compiled.comparison)).toEqual({ op: '>', threshold: 80 });
    expect(compiled.aggregated).toBe(false);
    expect(compiled.selector.name).toBe('cpu_usage');
  });

  it('accepts a threshold_value equal to the query threshold and refuses a different one', () => {
    expect(compileQuery({ query: 'cpu_usage > 80', threshold_value: 80 }, opts).comparison.threshold).toBe(80);
    expect(() => compileQuery({ query: 'cpu_usage > 80', threshold_value: 90 }, opts)).toThrow(ThresholdMismatchError);
  });

  it('needs a comparison or a threshold', () => {
    expect(() => compileQuery({ query: 'cpu_usage', threshold_value: null }, opts)).toThrow(/no comparison/);
  });

  it('knows the range and whether the rule aggregates', () => {
    const compiled = compileQuery({ query: 'sum by (job) (rate(x[2m])) > 1', threshold_value: null }, opts);
    expect([compiled.aggregated, compiled.rangeMs, compiled.selector.name]).toEqual([true, 120_000, 'x']);
  });
});

describe('durations', () => {
  it('parses and formats PromQL durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1w2d')).toBe(9 * 86_400_000);
    expect(parseDuration('30m1h')).toBeNull();
    expect(parseDuration('5')).toBeNull();
    expect(parseDuration('')).toBeNull();
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(1500)).toBe('1s500ms');
  });
});
