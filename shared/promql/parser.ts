/**
 * A recursive-descent parser for the rule language (grammar in ast.ts). Every error is a RuleSyntaxError naming the
 * offset where the problem starts and what was expected there; the API answers it with a 400.
 */
import { LABEL_NAME } from '../schemas/metric.ts';
import { EVENT_TYPES, LEVELS } from '../schemas/event.ts';
import {
  AGGREGATE_OPS,
  EVENTS,
  EVENT_FUNCTIONS,
  RANGE_FUNCTIONS,
  type Aggregate,
  type AggregateOp,
  type CompareOp,
  type Comparison,
  type Matcher,
  type MatchOp,
  type RangeCall,
  type RangeFunction,
  type RuleExpr,
  type Selector,
  type ValueExpr,
} from './ast.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { RuleSyntaxError, tokenize, type Token } from './lexer.ts';

/** Longest token text quoted in an error message. */
const EXCERPT_MAX_CHARS = 40;

export interface ParseOptions {
  /** Longest range a rule may look back over (bounds the alerter's memory). */
  maxRangeMs: number;
}

const COMPARE_OPS: readonly string[] = ['>', '>=', '<', '<=', '==', '!='];
const MATCH_OPS: readonly string[] = ['=', '!=', '=~', '!~'];
/** Event fields a matcher may name; any other label names an event tag. `type` is short for event_type. */
const EVENT_FIELDS: Record<string, readonly string[] | null> = { event_type: EVENT_TYPES, source: null, level: LEVELS };
const MAX_QUERY_LENGTH = 4000;

export function parseRule(query: string, opts: ParseOptions): RuleExpr {
  if (query.length > MAX_QUERY_LENGTH)
    throw new RuleSyntaxError(`the query is longer than ${MAX_QUERY_LENGTH} characters`, query, MAX_QUERY_LENGTH);
  return new Parser(query, opts).rule();
}

class Parser {
  private readonly tokens: Token[];
  private index = 0;

  constructor(
    private readonly query: string,
    private readonly opts: ParseOptions,
  ) {
    this.tokens = tokenize(query);
  }

  rule(): RuleExpr {
    if (this.peek().type === 'eof')
      this.fail(this.peek(), 'the query is empty: expected a metric name, a function or an aggregation');
    const expr = this.value();
    let comparison: Comparison | null = null;
    const next = this.peek();
    if (next.type === 'punct' && COMPARE_OPS.includes(next.text)) {
      this.index++;
      comparison = { op: next.text as CompareOp, threshold: this.number(), pos: next.pos };
    }
    const end = this.peek();
    if (end.type !== 'eof') {
      const hint =
        end.text === '['
          ? ': a range [..] goes inside a function, e.g. avg_over_time(cpu_usage[5m])'
          : end.type === 'ident' && ['and', 'or', 'unless'].includes(end.text)
            ? ': combining conditions with and/or/unless is not supported; write one rule per condition'
            : '';
      this.fail(
        end,
        `unexpected ${describe(end)}: expected a comparison (>, >=, <, <=, ==, !=) or the end of the query${hint}`,
      );
    }
    return { expr, comparison };
  }

  private value(): ValueExpr {
    const token = this.peek();
    if (token.type === 'punct' && token.text === '{')
      this.fail(token, 'a selector needs a metric name (or `events`) before {');
    if (token.type !== 'ident')
      this.fail(token, `unexpected ${describe(token)}: expected a metric name, a function or an aggregation`);
    const after = this.tokens[this.index + 1];
    if (
      (AGGREGATE_OPS as readonly string[]).includes(token.text) &&
      (isPunct(after, '(') || (after.type === 'ident' && (after.text === 'by' || after.text === 'without')))
    ) {
      return this.aggregate();
    }
    if (isPunct(after, '(')) {
      if ((RANGE_FUNCTIONS as readonly string[]).includes(token.text)) return this.rangeCall();
      this.fail(
        token,
        `unknown function ${token.text}(): the functions are ${RANGE_FUNCTIONS.join(', ')} and the aggregations ` +
          `${AGGREGATE_OPS.join(', ')}`,
      );
    }
    const selector = this.selector();
    if (selector.source === 'events')
      this.fail(token, 'events have no value: count them with count_over_time(events{…}[5m]) or rate(events{…}[5m])');
    if (isPunct(this.peek(), '['))
      this.fail(this.peek(), `a range [..] goes inside a function, e.g. avg_over_time(${selector.name}[5m])`);
    return selector;
  }

  private aggregate(): Aggregate {
    const opToken = this.next();
    let by = this.byClause();
    this.expect('(', `after ${opToken.text}`);
    const inner = this.value();
    this.expect(')', `to close ${opToken.text}(`);
    if (by === null) by = this.byClause();
    return { kind: 'aggregate', op: opToken.text as AggregateOp, by, expr: inner, pos: opToken.pos };
  }

  private byClause(): string[] | null {
    const token = this.peek();
    if (token.type !== 'ident' || (token.text !== 'by' && token.text !== 'without')) return null;
    if (token.text === 'without') this.fail(token, '`without` is not supported: list the labels to keep with by (…)');
    this.index++;
    this.expect('(', 'after by');
    const labels: string[] = [];
    while (!isPunct(this.peek(), ')')) {
      const label = this.next();
      if (label.type !== 'ident' || !LABEL_NAME.test(label.text))
        this.fail(label, `unexpected ${describe(label)}: expected a label name`);
      if (labels.includes(label.text)) this.fail(label, `label ${label.text} is listed twice`);
      labels.push(label.text);
      if (!isPunct(this.peek(), ')')) this.expect(',', 'between label names');
    }
    this.index++;
    return labels;
  }

  private rangeCall(): RangeCall {
    const fnToken = this.next();
    const fn = fnToken.text as RangeFunction;
    this.expect('(', `after ${fn}`);
    const selectorToken = this.peek();
    if (selectorToken.type !== 'ident' || isPunct(this.tokens[this.index + 1], '(')) {
      this.fail(selectorToken, `${fn}() takes a range selector such as cpu_usage[5m] or events{level="error"}[5m]`);
    }
    const selector = this.selector();
    if (selector.source === 'events' && !EVENT_FUNCTIONS.includes(fn)) {
      this.fail(fnToken, `${fn}() needs metric values; over events use ${EVENT_FUNCTIONS.join(' or ')}`);
    }
    const open = this.peek();
    if (!isPunct(open, '['))
      this.fail(open, `unexpected ${describe(open)}: ${fn}() needs a range, e.g. ${selector.name}[5m]`);
    this.index++;
    const durationToken = this.next();
    const rangeMs = durationToken.type === 'duration' ? parseDuration(durationToken.text) : null;
    if (rangeMs === null)
      this.fail(durationToken, `unexpected ${describe(durationToken)}: expected a duration such as 30s, 5m, 1h`);
    if (rangeMs === 0) this.fail(durationToken, 'the range must be longer than 0s');
    if (rangeMs > this.opts.maxRangeMs)
      this.fail(
        durationToken,
        `the range ${durationToken.text} is longer than the longest allowed, ${formatDuration(this.opts.maxRangeMs)} ` +
          `(ALERTER_MAX_RANGE_SECONDS)`,
      );
    this.expect(']', 'to close the range');
    this.expect(')', `to close ${fn}(`);
    return { kind: 'range_call', fn, selector, rangeMs, pos: fnToken.pos };
  }

  private selector(): Selector {
    const nameToken = this.next();
    const source = nameToken.text === EVENTS ? 'events' : 'metric';
    const matchers: Matcher[] = [];
    if (isPunct(this.peek(), '{')) {
      this.index++;
      while (!isPunct(this.peek(), '}')) {
        matchers.push(this.matcher(source));
        if (!isPunct(this.peek(), '}')) this.expect(',', 'between matchers');
      }
      this.index++;
    }
    return { kind: 'selector', source, name: nameToken.text, matchers, pos: nameToken.pos };
  }

  private matcher(source: 'metric' | 'events'): Matcher {
    const labelToken = this.next();
    if (labelToken.type !== 'ident' || !LABEL_NAME.test(labelToken.text))
      this.fail(labelToken, `unexpected ${describe(labelToken)}: expected a label name`);
    if (labelToken.text.startsWith('__')) this.fail(labelToken, 'label names starting with __ are reserved');
    const label = source === 'events' && labelToken.text === 'type' ? 'event_type' : labelToken.text;
    const opToken = this.next();
    if (opToken.type !== 'punct' || !MATCH_OPS.includes(opToken.text))
      this.fail(opToken, `unexpected ${describe(opToken)}: expected =, !=, =~ or !~`);
    const valueToken = this.next();
    if (valueToken.type !== 'string')
      this.fail(valueToken, `unexpected ${describe(valueToken)}: expected a quoted string`);
    const op = opToken.text as MatchOp;
    const value = valueToken.value!;
    const matcher: Matcher = { label, op, value, pos: labelToken.pos };
    if (op === '=~' || op === '!~') {
      try {
        matcher.regex = new RegExp(`^(?:${value})$`, 'u');
      } catch (error) {
        this.fail(valueToken, `invalid regular expression: ${(error as Error).message}`);
      }
    } else if (source === 'events') {
      const allowed = EVENT_FIELDS[label];
      if (allowed && !allowed.includes(value))
        this.fail(valueToken, `${label} is one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return matcher;
  }

  private number(): number {
    let sign = 1;
    if (isPunct(this.peek(), '-')) {
      this.index++;
      sign = -1;
    }
    const token = this.next();
    if (token.type !== 'number')
      this.fail(token, `unexpected ${describe(token)}: expected a number after the comparison`);
    return sign * Number(token.text);
  }

  private expect(text: string, context: string): Token {
    const token = this.next();
    if (!isPunct(token, text)) this.fail(token, `unexpected ${describe(token)}: expected "${text}" ${context}`);
    return token;
  }

  private peek(): Token {
    return this.tokens[this.index];
  }

  private next(): Token {
    const token = this.tokens[this.index];
    if (token.type !== 'eof') this.index++;
    return token;
  }

  private fail(token: Token, message: string): never {
    throw new RuleSyntaxError(message, this.query, token.pos);
  }
}

function isPunct(token: Token | undefined, text: string): boolean {
  return token !== undefined && token.type === 'punct' && token.text === text;
}

function describe(token: Token): string {
  if (token.type === 'eof') return 'end of query';
  return JSON.stringify(
    token.text.length > EXCERPT_MAX_CHARS ? `${token.text.slice(0, EXCERPT_MAX_CHARS)}…` : token.text,
  );
}
