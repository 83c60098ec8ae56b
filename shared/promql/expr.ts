/**
 * The syntax tree of full PromQL expressions, as the query role's Prometheus-compatible API evaluates them
 * (docs/promql.md lists what is supported) and as alert rules and their backtest evaluate them (compile.ts).
 *
 *   expr     := or-expr; binary levels from loosest to tightest: or; and unless; == != > >= < <= (bool);
 *               + -; * / % atan2; ^ (right-associative); unary - +
 *   postfix  := primary [ '[' duration ']' ] [ offset [-]duration ]
 *   primary  := number | "string" | ( expr ) | fn ( args ) | aggop [by|without (…)] ( [param ,] expr ) [by|without (…)]
 *               | metric_name [ { matchers } ] | { matchers }
 */
export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  label: string;
  op: MatchOp;
  value: string;
  /** Compiled once for =~ and !~ (anchored, as in PromQL). */
  regex?: RegExp;
  pos: number;
}

export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string';

export interface NumberLiteral {
  kind: 'number';
  value: number;
  pos: number;
}

export interface StringLiteral {
  kind: 'string';
  value: string;
  pos: number;
}

export interface VectorSelector {
  kind: 'vector';
  /** The metric name, from `name{…}` or a `__name__="…"` matcher; null for `{…}` without one. */
  name: string | null;
  /** Every matcher, the name's included as `__name__ = name`. */
  matchers: Matcher[];
  offsetMs: number;
  pos: number;
}

export interface MatrixSelector {
  kind: 'matrix';
  selector: VectorSelector;
  rangeMs: number;
  pos: number;
}

export interface Call {
  kind: 'call';
  fn: string;
  args: Expr[];
  pos: number;
}

export type AggregationOp =
  | 'sum'
  | 'avg'
  | 'min'
  | 'max'
  | 'count'
  | 'group'
  | 'stddev'
  | 'stdvar'
  | 'topk'
  | 'bottomk'
  | 'quantile';

export interface Aggregation {
  kind: 'aggregation';
  op: AggregationOp;
  /** by: keep these labels; without: drop these (and the metric name); null: one group. */
  grouping: { without: boolean; labels: string[] } | null;
  param: Expr | null;
  expr: Expr;
  pos: number;
}

export type BinaryOp =
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '^'
  | 'atan2'
  | '=='
  | '!='
  | '>'
  | '<'
  | '>='
  | '<='
  | 'and'
  | 'or'
  | 'unless';

export interface VectorMatching {
  /** on(…): match on these labels; ignoring(…): on all but these (and the metric name). */
  on: boolean;
  labels: string[];
  /** one-to-one, or which side may have many elements per match (group_left: the left). */
  card: 'one-to-one' | 'many-to-one' | 'one-to-many';
  /** Labels group_left/group_right copy from the "one" side. */
  include: string[];
}

export interface Binary {
  kind: 'binary';
  op: BinaryOp;
  lhs: Expr;
  rhs: Expr;
  /** Comparisons with `bool` answer 0/1 instead of filtering. */
  returnBool: boolean;
  matching: VectorMatching | null;
  pos: number;
}

export interface Unary {
  kind: 'unary';
  op: '-' | '+';
  expr: Expr;
  pos: number;
}

export interface Paren {
  kind: 'paren';
  expr: Expr;
  pos: number;
}

export type Expr =
  | NumberLiteral
  | StringLiteral
  | VectorSelector
  | MatrixSelector
  | Call
  | Aggregation
  | Binary
  | Unary
  | Paren;

export const COMPARISON_OPS: readonly string[] = ['==', '!=', '>', '<', '>=', '<='];
export const SET_OPS: readonly string[] = ['and', 'or', 'unless'];

/** Every vector selector in the expression (what the data loader must fetch), with the range it is read over. */
export function selectorsOf(expr: Expr, out: { selector: VectorSelector; rangeMs: number }[] = []) {
  switch (expr.kind) {
    case 'vector':
      out.push({ selector: expr, rangeMs: 0 });
      break;
    case 'matrix':
      out.push({ selector: expr.selector, rangeMs: expr.rangeMs });
      break;
    case 'call':
      for (const arg of expr.args) selectorsOf(arg, out);
      break;
    case 'aggregation':
      if (expr.param) selectorsOf(expr.param, out);
      selectorsOf(expr.expr, out);
      break;
    case 'binary':
      selectorsOf(expr.lhs, out);
      selectorsOf(expr.rhs, out);
      break;
    case 'unary':
    case 'paren':
      selectorsOf(expr.expr, out);
      break;
    default:
      break;
  }
  return out;
}
