/**
 * An alert rule's query as the alerter and the backtest run it: a PromQL expression of the one engine
 * (expr-parser.ts, engine.ts) whose result — an instant vector — is the set of alert instances, one per element,
 * identified by its labels (without the metric name). On top of PromQL:
 *   - a query without a condition of its own (a comparison that filters, and/or/unless, absent…) needs
 *     threshold_value and means `query > threshold_value`; the contract's `cpu_usage > 80` with threshold_value 80
 *     and `cpu_usage` with threshold_value 80 are the same rule, a different threshold_value is refused;
 *   - every selector names its metric (the alerter keeps windows per metric name), looks back at most
 *     ALERTER_MAX_RANGE_SECONDS (range plus offset) and not into the future (no negative offset);
 *   - `events{…}` selects events (matchers on event_type — or `type` —, source, level, and any other name matches a
 *     tag), only as the range of count_over_time or rate: events have no value.
 * It also decides where each result element is judged: an expression of one selector that combines no series
 * (perSeries) gives elements owned by their series' partition; any other is judged once, with origin null, by the
 * member that evaluates aggregations. Errors are RuleSyntaxErrors naming the position, as the parser's.
 */
import { EVENT_TYPES, LEVELS } from '../schemas/event.ts';
import { formatDuration } from './duration.ts';
import {
  COMPARISON_OPS,
  SET_OPS,
  selectorsOf,
  type Aggregation,
  type Expr,
  type Matcher,
  type VectorSelector,
} from './expr.ts';
import { parseExpr, typeOf } from './expr-parser.ts';
import { RuleSyntaxError } from './lexer.ts';
import { EVENTS } from './windows.ts';

export interface ParseOptions {
  /** Longest range (plus offset) a rule may look back over (bounds the alerter's memory). */
  maxRangeMs: number;
}

export interface RuleQuery {
  query: string;
  threshold_value: number | null;
}

export interface CompiledQuery {
  /** The condition: the query, or `(query) > threshold_value` when the query has no condition of its own. */
  expr: Expr;
  /** Every selector the condition reads. */
  selectors: VectorSelector[];
  /** One selector and no operation across series: each result element comes from one series, owned by its partition. */
  perSeries: boolean;
  /** True when the result has no single owning partition (!perSeries). */
  aggregated: boolean;
  /**
   * The aggregation (sum, avg, min, max, count) over a per-series expression that holds the rule's only selector:
   * members exchange its partial figures per group, so it is exact when several share the partitions.
   */
  partial: Aggregation | null;
  /** How far back the rule reads: the longest range or instant selector's offset plus range (lookback not counted). */
  rangeMs: number;
}

/** A threshold_value that contradicts the query (which has its own condition). */
export class ThresholdMismatchError extends Error {
  constructor(
    readonly thresholdValue: number,
    readonly queryThreshold: number | null,
  ) {
    super(
      queryThreshold === null
        ? `threshold_value ${thresholdValue} has nothing to apply to: the query has a condition of its own; ` +
            'leave threshold_value out'
        : `threshold_value ${thresholdValue} contradicts the query's own threshold ${queryThreshold}: ` +
            'give one or make them equal',
    );
    this.name = 'ThresholdMismatchError';
  }
}

const EVENT_FUNCTIONS: readonly string[] = ['count_over_time', 'rate'];
/** Event fields a matcher may name with their values; any other label names an event tag. */
const EVENT_FIELDS: Record<string, readonly string[] | null> = { event_type: EVENT_TYPES, source: null, level: LEVELS };
/** Functions whose result combines series (or stands for missing ones). */
const CROSS_SERIES_FUNCTIONS: readonly string[] = ['absent', 'absent_over_time', 'scalar', 'histogram_quantile'];
const PARTIAL_OPS: readonly string[] = ['sum', 'avg', 'min', 'max', 'count'];
const NAMELESS = 'an alert rule names the metric of each selector (the alerter keeps windows per metric name)';
const EVENTS_HAVE_NO_VALUE =
  'events have no value: count them with count_over_time(events{…}[5m]) or rate(events{…}[5m])';

export function compileQuery(rule: RuleQuery, opts: ParseOptions): CompiledQuery {
  const parsed = parseExpr(rule.query);
  const fail = (message: string, pos: number): never => {
    throw new RuleSyntaxError(message, rule.query, pos);
  };
  if (typeOf(parsed) !== 'vector') {
    const got = typeOf(parsed) === 'scalar' ? 'a scalar' : 'a string';
    fail(`an alert rule needs an instant vector (each element is an alert), got ${got}`, 0);
  }
  checkRule(parsed, null, opts, fail);
  const expr = withThreshold(parsed, rule, fail);
  const selectors = selectorsOf(expr);
  let rangeMs = 0;
  for (const { selector, rangeMs: range } of selectors) rangeMs = Math.max(rangeMs, selector.offsetMs + range);
  const perSeries = isPerSeries(expr);
  return {
    expr,
    selectors: selectors.map((s) => s.selector),
    perSeries,
    aggregated: !perSeries,
    partial: perSeries ? null : partialOf(expr, selectors.length),
    rangeMs,
  };
}

/** The condition the query states itself: its threshold (null: not against a number), or undefined: none. */
function ownCondition(expr: Expr): { threshold: number | null } | undefined {
  const node = unparen(expr);
  if (node.kind === 'call' && (node.fn === 'absent' || node.fn === 'absent_over_time')) return { threshold: null };
  if (node.kind !== 'binary') return undefined;
  if (SET_OPS.includes(node.op)) return { threshold: null };
  if (!COMPARISON_OPS.includes(node.op) || node.returnBool) return undefined;
  const [lhs, rhs] = [unparen(node.lhs), unparen(node.rhs)];
  if (rhs.kind === 'number') return { threshold: rhs.value };
  if (lhs.kind === 'number') return { threshold: lhs.value };
  return { threshold: null };
}

function withThreshold(parsed: Expr, rule: RuleQuery, fail: Fail): Expr {
  const own = ownCondition(parsed);
  if (own) {
    if (rule.threshold_value !== null && rule.threshold_value !== own.threshold) {
      throw new ThresholdMismatchError(rule.threshold_value, own.threshold);
    }
    return parsed;
  }
  if (rule.threshold_value === null) {
    fail('the query has no comparison: add one (e.g. cpu_usage > 80) or give threshold_value', rule.query.length);
  }
  const pos = rule.query.length;
  return {
    kind: 'binary',
    op: '>',
    lhs: parsed,
    rhs: { kind: 'number', value: rule.threshold_value!, pos },
    returnBool: false,
    matching: null,
    pos,
  };
}

/** The rule's own checks, walking the tree with each node's parent call (the function a range belongs to). */
type Fail = (message: string, pos: number) => never;
type CallNode = Expr & { kind: 'call' };

function checkRule(expr: Expr, call: CallNode | null, opts: ParseOptions, fail: Fail): void {
  switch (expr.kind) {
    case 'vector':
      checkSelector(expr, 0, null, opts, fail);
      return;
    case 'matrix':
      checkSelector(expr.selector, expr.rangeMs, call, opts, fail);
      return;
    case 'call':
      for (const arg of expr.args) checkRule(arg, expr, opts, fail);
      return;
    case 'aggregation':
      if (expr.param) checkRule(expr.param, null, opts, fail);
      checkRule(expr.expr, null, opts, fail);
      return;
    case 'binary':
      checkRule(expr.lhs, null, opts, fail);
      checkRule(expr.rhs, null, opts, fail);
      return;
    case 'unary':
    case 'paren':
      checkRule(expr.expr, null, opts, fail);
      return;
    default:
      return;
  }
}

function checkSelector(
  selector: VectorSelector,
  rangeMs: number,
  call: CallNode | null,
  opts: ParseOptions,
  fail: Fail,
): void {
  const at = selector.pos;
  if (selector.name === null) fail(NAMELESS, at);
  if (selector.offsetMs < 0) fail('a negative offset looks into the future, which an alert rule cannot see', at);
  const reach = selector.offsetMs + rangeMs;
  if (reach > opts.maxRangeMs) {
    const what = `${selector.offsetMs > 0 ? 'the range plus offset' : 'the range'} ${formatDuration(reach)}`;
    const longest = formatDuration(opts.maxRangeMs);
    fail(`${what} is longer than the longest allowed, ${longest} (ALERTER_MAX_RANGE_SECONDS)`, at);
  }
  if (selector.name !== EVENTS) return;
  if (rangeMs === 0) fail(EVENTS_HAVE_NO_VALUE, at);
  if (call && !EVENT_FUNCTIONS.includes(call.fn)) {
    fail(`${call.fn}() needs metric values; over events use ${EVENT_FUNCTIONS.join(' or ')}`, call.pos);
  }
  for (const matcher of selector.matchers) checkEventMatcher(matcher, fail);
}

/** `type` is short for event_type; the fields' values are checked; other names are tags. */
function checkEventMatcher(matcher: Matcher, fail: Fail): void {
  if (matcher.label === '__name__') return;
  if (matcher.label.startsWith('__')) fail('label names starting with __ are reserved', matcher.pos);
  if (matcher.label === 'type') matcher.label = 'event_type';
  const allowed = EVENT_FIELDS[matcher.label];
  if (allowed && (matcher.op === '=' || matcher.op === '!=') && !allowed.includes(matcher.value)) {
    fail(`${matcher.label} is one of ${allowed.join(', ')}, got ${JSON.stringify(matcher.value)}`, matcher.pos);
  }
}

function unparen(expr: Expr): Expr {
  return expr.kind === 'paren' ? unparen(expr.expr) : expr;
}

/** One selector, and nothing that combines series: each result element is a function of one series. */
function isPerSeries(expr: Expr): boolean {
  return selectorsOf(expr).length === 1 && !combinesSeries(expr);
}

function combinesSeries(expr: Expr): boolean {
  switch (expr.kind) {
    case 'aggregation':
      return true;
    case 'call':
      return CROSS_SERIES_FUNCTIONS.includes(expr.fn) || expr.args.some(combinesSeries);
    case 'binary':
      if (typeOf(expr.lhs) === 'vector' && typeOf(expr.rhs) === 'vector') return true;
      return combinesSeries(expr.lhs) || combinesSeries(expr.rhs);
    case 'unary':
    case 'paren':
      return combinesSeries(expr.expr);
    default:
      return false;
  }
}

/** The aggregation over a per-series expression that holds all `selectorCount` selectors, if the rule has one. */
function partialOf(expr: Expr, selectorCount: number): Aggregation | null {
  switch (expr.kind) {
    case 'aggregation':
      if (PARTIAL_OPS.includes(expr.op) && !expr.param && selectorCount === 1 && isPerSeries(expr.expr)) return expr;
      return partialOf(expr.expr, selectorCount);
    case 'call':
      return expr.args.length === 1 ? partialOf(expr.args[0], selectorCount) : null;
    case 'binary':
      return partialOf(expr.lhs, selectorCount) ?? partialOf(expr.rhs, selectorCount);
    case 'unary':
    case 'paren':
      return partialOf(expr.expr, selectorCount);
    default:
      return null;
  }
}
