/**
 * The rule language's syntax tree. A rule is a value expression optionally compared with a number:
 *
 *   rule        := value [ cmp number ]            (no comparison: threshold_value supplies `> threshold`)
 *   value       := aggregate | range_call | selector
 *   aggregate   := aggop [ by (label, …) ] ( value ) [ by (label, …) ]       aggop: sum avg max min count
 *   range_call  := fn ( selector [ duration ] )
 *                    fn: avg_over_time max_over_time min_over_time sum_over_time count_over_time rate increase
 *   selector    := metric_name [ { matcher, … } ]  |  events { matcher, … }
 *   matcher     := label ( = | != | =~ | !~ ) "string"
 *   cmp         := > | >= | < | <= | == | !=
 *
 * Every node carries `pos`, the 0-based offset in the query where it starts, for error messages.
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';
export type CompareOp = '>' | '>=' | '<' | '<=' | '==' | '!=';
export type AggregateOp = 'sum' | 'avg' | 'max' | 'min' | 'count';
export type RangeFunction =
  | 'avg_over_time'
  | 'max_over_time'
  | 'min_over_time'
  | 'sum_over_time'
  | 'count_over_time'
  | 'rate'
  | 'increase';

export const AGGREGATE_OPS: readonly AggregateOp[] = ['sum', 'avg', 'max', 'min', 'count'];
export const RANGE_FUNCTIONS: readonly RangeFunction[] = [
  'avg_over_time',
  'max_over_time',
  'min_over_time',
  'sum_over_time',
  'count_over_time',
  'rate',
  'increase',
];
/** Functions that make sense over events (which have no value, only a time). */
export const EVENT_FUNCTIONS: readonly RangeFunction[] = ['count_over_time', 'rate'];
/** The selector name that selects events instead of a metric. */
export const EVENTS = 'events';

export interface Matcher {
  label: string;
  op: MatchOp;
  value: string;
  /** Compiled once for =~ and !~ (anchored, as in PromQL). */
  regex?: RegExp;
  pos: number;
}

export interface Selector {
  kind: 'selector';
  /** 'metric': samples of one metric name; 'events': events of the events topic. */
  source: 'metric' | 'events';
  name: string;
  matchers: Matcher[];
  pos: number;
}

export interface RangeCall {
  kind: 'range_call';
  fn: RangeFunction;
  selector: Selector;
  rangeMs: number;
  pos: number;
}

export interface Aggregate {
  kind: 'aggregate';
  op: AggregateOp;
  /** null: everything in one group without labels. */
  by: string[] | null;
  expr: ValueExpr;
  pos: number;
}

export type ValueExpr = Selector | RangeCall | Aggregate;

export interface Comparison {
  op: CompareOp;
  threshold: number;
  pos: number;
}

export interface RuleExpr {
  expr: ValueExpr;
  /** null when the query has none; the rule then needs threshold_value. */
  comparison: Comparison | null;
}

/** The one selector a value expression reads (the language has no binary operators between vectors). */
export function selectorOf(expr: ValueExpr): Selector {
  if (expr.kind === 'selector') return expr;
  if (expr.kind === 'range_call') return expr.selector;
  return selectorOf(expr.expr);
}

export function isAggregate(expr: ValueExpr): boolean {
  return expr.kind === 'aggregate';
}

/** The longest range the expression looks back over (0 for an instant selector). */
export function rangeOf(expr: ValueExpr): number {
  if (expr.kind === 'selector') return 0;
  if (expr.kind === 'range_call') return expr.rangeMs;
  return rangeOf(expr.expr);
}
