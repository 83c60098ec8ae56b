/**
 * Alert rules compiled from PromQL: the threshold_value forms, where each rule is judged (per series or not), its
 * partial aggregation, the rule-only checks, and parse errors with their positions (the console shows them as the
 * query is typed).
 */
import { describe, expect, it } from 'vitest';
import { RuleSyntaxError } from './lexer.ts';
import { compileQuery, ThresholdMismatchError } from './compile.ts';
import { formatDuration, parseDuration } from './duration.ts';

const opts = { maxRangeMs: 3_600_000 };
const compile = (query: string, threshold_value: number | null = null) =>
  compileQuery({ query, threshold_value }, opts);

function syntaxError(query: string): RuleSyntaxError {
  try {
    compile(query);
  } catch (error) {
    if (error instanceof RuleSyntaxError) return error;
    throw error;
  }
  throw new Error(`expected ${query} to be rejected`);
}

describe('alert rule queries', () => {
  it('take the query as the condition when it has one (a filtering comparison, and/or/unless, absent)', () => {
    for (const query of [
      'cpu_usage > 80',
      'x < -3',
      '80 < x',
      'x > y',
      'x > 1 and y < 2',
      'x unless y',
      'absent(x)',
      'x > 80 > 90',
    ]) {
      expect(compile(query).expr, query).toMatchObject({ pos: expect.any(Number) });
      expect(() => compile(query), query).not.toThrow();
    }
    expect(compile('cpu_usage > 80').expr).toMatchObject({
      kind: 'binary',
      op: '>',
      lhs: { kind: 'vector', name: 'cpu_usage' },
      rhs: { value: 80 },
    });
  });

  it('use threshold_value as `>` for a query without a condition (the form of the contract)', () => {
    expect(compile('cpu_usage', 80).expr).toMatchObject({
      kind: 'binary',
      op: '>',
      lhs: { kind: 'vector', name: 'cpu_usage' },
      rhs: { kind: 'number', value: 80 },
    });
    expect(compile('x > bool 1', 0).expr).toMatchObject({ op: '>', lhs: { op: '>', returnBool: true } });
    expect(compile('cpu_usage > 80', 80).expr).toMatchObject({ op: '>', rhs: { value: 80 } });
    expect(() => compile('cpu_usage > 80', 90)).toThrow(ThresholdMismatchError);
    expect(() => compile('cpu_usage > 80', 90)).toThrow("threshold_value 90 contradicts the query's own threshold 80");
    expect(() => compile('x > y', 1)).toThrow('has a condition of its own');
    expect(() => compile('cpu_usage')).toThrow(/no comparison/);
  });

  it('know where each result is judged: per series, or once over all series (origin null)', () => {
    const kind = (query: string) => {
      const c = compile(query);
      return [c.perSeries, c.aggregated, c.partial?.op ?? null];
    };
    expect(kind('cpu_usage > 80')).toEqual([true, false, null]);
    expect(kind('rate(x[5m]) * 60 > 1')).toEqual([true, false, null]);
    expect(kind('label_replace(x, "h", "$1", "host", "(.*)") > 1')).toEqual([true, false, null]);
    expect(kind('count_over_time(events{level="error"}[5m]) > 3')).toEqual([true, false, null]);
    expect(kind('sum by (job) (rate(x[5m])) > 1')).toEqual([false, true, 'sum']);
    expect(kind('sum without (host) (x) / 2 > 1')).toEqual([false, true, 'sum']);
    expect(kind('max(sum by (job) (x)) > 1')).toEqual([false, true, 'sum']);
    expect(kind('topk(1, x) > 1')).toEqual([false, true, null]);
    expect(kind('rate(a[5m]) / rate(b[5m]) > 0.1')).toEqual([false, true, null]);
    expect(kind('histogram_quantile(0.9, rate(x_bucket[5m])) > 1')).toEqual([false, true, null]);
    expect(kind('absent(x)')).toEqual([false, true, null]);
  });

  it('know how far back they read: the longest range, plus offset', () => {
    expect(compile('x > 1').rangeMs).toBe(0);
    expect(compile('sum by (job) (rate(x[2m])) > 1').rangeMs).toBe(120_000);
    expect(compile('rate(x[2m] offset 1m) > rate(y[5m])').rangeMs).toBe(300_000);
    expect(compile('x offset 10m > 1').rangeMs).toBe(600_000);
    expect(compile('rate(x[2m]) > 1').selectors.map((s) => s.name)).toEqual(['x']);
  });

  it('select events: `type` is event_type, field values are checked, any other label is a tag', () => {
    const { selectors } = compile(
      'count_over_time(events{type="log", source="api", level="error", region=~"eu-.*"}[5m]) > 50',
    );
    expect(selectors[0].matchers.map((m) => [m.label, m.op, m.value])).toEqual([
      ['__name__', '=', 'events'],
      ['event_type', '=', 'log'],
      ['source', '=', 'api'],
      ['level', '=', 'error'],
      ['region', '=~', 'eu-.*'],
    ]);
    expect(compile('sum by (source) (rate(events{level="error"}[1m])) > 0.5').partial?.op).toBe('sum');
  });

  it('accept what the old rule language did: comments, trailing commas, both quotes, by after the argument', () => {
    for (const query of [
      '# high cpu\n  cpu_usage\n    >\n 80 # percent',
      `http_errors{job="api", env!='dev', path=~"/v1/.*", code!~"2..", q="a\\"b",} > 0`,
      'sum(rate(req_total[5m])) by (job) > 1',
      'sum by () (cpu_usage) > 1',
      "avg_over_time(m{a='b'}[1m30s]) > 1",
      'x > 1e3',
      'x > .5',
      'x == 1',
      'x != 1',
      'x >= 1',
      'x <= 1',
    ]) {
      expect(() => compile(query), query).not.toThrow();
    }
  });

  const errors: [string, string, number][] = [
    ['', 'the query is empty', 0],
    ['cpu_usage >', 'unexpected end of query: expected a number after the comparison', 11],
    ['cpu_usage{job="a" > 80', 'expected "," between matchers', 18],
    ['cpu_usage{job=a} > 80', 'expected a quoted string', 14],
    ['cpu_usage{job~"a"} > 80', 'unexpected character "~"', 13],
    ['cpu_usage{job="a} > 80', 'unterminated string', 14],
    ['cpu_usage{path=~"("} > 80', 'invalid regular expression', 16],
    ['{job="a"} > 80', 'names the metric of each selector', 0],
    ['cpu_usage[5m] > 80', 'needs scalars or instant vectors on both sides, got a range vector', 14],
    ['rate(cpu_usage) > 80', 'argument 1 must be a range vector', 0],
    ['rate(cpu_usage[5x]) > 1', '"5x" is neither a number nor a duration', 15],
    ['rate(cpu_usage[2h]) > 1', 'the range 2h is longer than the longest allowed, 1h (ALERTER_MAX_RANGE_SECONDS)', 5],
    ['rate(cpu_usage[50m] offset 20m) > 1', 'the range plus offset 1h10m is longer than the longest allowed', 5],
    ['cpu_usage offset -5m > 1', 'a negative offset', 0],
    ['rate(cpu_usage[5m) > 1', 'expected "]" to close the range', 17],
    [
      'rate(cpu_usage[5m] > 1',
      'binary operator > needs scalars or instant vectors on both sides, got a range vector',
      19,
    ],
    ['median_over_time(x[5m]) > 1', 'unknown function median_over_time()', 0],
    ['sum by (job job) (x) > 1', 'expected "," between label names', 12],
    ['sum by job (x) > 1', 'expected "(" after by', 7],
    ['sum(x > 1', 'expected ")" to close sum(', 9],
    ['1 > bool 0', 'an alert rule needs an instant vector', 0],
    ['events > 3', 'events have no value', 0],
    [
      'avg_over_time(events{level="error"}[5m]) > 1',
      'avg_over_time() needs metric values; over events use count_over_time or rate',
      0,
    ],
    ['count_over_time(events{level="bad"}[5m]) > 1', 'level is one of trace, debug, info, warn, error, fatal', 23],
    ['count_over_time(events{type="bogus"}[5m]) > 1', 'event_type is one of log, metric, trace, alert', 23],
    ['count_over_time(events{__x="a"}[5m]) > 1', 'reserved', 23],
  ];
  it.each(errors)('rejects %j with a message and the position', (query, message, position) => {
    const error = syntaxError(query);
    expect(error.message).toContain(message);
    expect(error.position).toBe(position);
  });

  it('report line and column and an excerpt with a caret', () => {
    const error = syntaxError('cpu_usage\n  > oops(');
    expect([error.line, error.column]).toEqual([2, 5]);
    expect(error.message).toMatch(/\(at line 2, column 5\)$/);
    expect(error.excerpt).toBe('  > oops(\n    ^');
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
