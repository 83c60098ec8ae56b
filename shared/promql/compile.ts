/**
 * From a stored rule (query + threshold_value) to what the engine runs: the parsed expression, the effective
 * comparison, the selector it reads and whether it aggregates across series. The contract's example form `cpu_usage >
 * 80` with threshold_value 80 and the bare form `cpu_usage` with threshold_value 80 both mean `cpu_usage > 80`.
 */
import { isAggregate, rangeOf, selectorOf, type Comparison, type Selector, type ValueExpr } from './ast.ts';
import { RuleSyntaxError } from './lexer.ts';
import { parseRule, type ParseOptions } from './parser.ts';

export interface RuleQuery {
  query: string;
  threshold_value: number | null;
}

export interface CompiledQuery {
  expr: ValueExpr;
  comparison: Comparison;
  selector: Selector;
  /** True when an aggregation combines series: the result has no single owning partition. */
  aggregated: boolean;
  rangeMs: number;
}

/** A threshold_value that contradicts the query (which has its own threshold). */
export class ThresholdMismatchError extends Error {
  constructor(
    readonly thresholdValue: number,
    readonly queryThreshold: number,
  ) {
    super(
      `threshold_value ${thresholdValue} contradicts the query's own threshold ${queryThreshold}: ` +
        'give one or make them equal',
    );
    this.name = 'ThresholdMismatchError';
  }
}

export function compileQuery(rule: RuleQuery, opts: ParseOptions): CompiledQuery {
  const parsed = parseRule(rule.query, opts);
  let comparison = parsed.comparison;
  if (comparison === null) {
    if (rule.threshold_value === null) {
      throw new RuleSyntaxError(
        'the query has no comparison: add one (e.g. cpu_usage > 80) or give threshold_value',
        rule.query,
        rule.query.length,
      );
    }
    comparison = { op: '>', threshold: rule.threshold_value, pos: rule.query.length };
  } else if (rule.threshold_value !== null && rule.threshold_value !== comparison.threshold) {
    throw new ThresholdMismatchError(rule.threshold_value, comparison.threshold);
  }
  return {
    expr: parsed.expr,
    comparison,
    selector: selectorOf(parsed.expr),
    aggregated: isAggregate(parsed.expr),
    rangeMs: rangeOf(parsed.expr),
  };
}
