/**
 * Recursive-descent parser of full PromQL expressions (grammar in expr.ts), with Prometheus' operator precedence
 * and its static type rules (a range vector only where a function takes one, comparisons between scalars need
 * `bool`, …). Errors are RuleSyntaxErrors naming the offset, like the rule parser's; unsupported functions and
 * constructs are named in the message.
 */
import { parseDuration } from './duration.ts';
import {
  COMPARISON_OPS,
  SET_OPS,
  type AggregationOp,
  type BinaryOp,
  type Expr,
  type Matcher,
  type MatchOp,
  type ValueType,
  type VectorMatching,
  type VectorSelector,
} from './expr.ts';
import { RuleSyntaxError, tokenize, type Token } from './lexer.ts';
import { SIGNATURES, UNSUPPORTED_FUNCTIONS } from './signatures.ts';

/** Longest token text quoted in an error message. */
const EXCERPT_MAX_CHARS = 40;

export const MAX_EXPRESSION_LENGTH = 16_000;
const AGGREGATIONS: readonly AggregationOp[] = [
  'sum',
  'avg',
  'min',
  'max',
  'count',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
];
const PARAM_AGGREGATIONS: readonly string[] = ['topk', 'bottomk', 'quantile'];
/** Binary operator levels, loosest first. */
const LEVELS: readonly (readonly string[])[] = [
  ['or'],
  ['and', 'unless'],
  COMPARISON_OPS,
  ['+', '-'],
  ['*', '/', '%', 'atan2'],
];
const MATCH_OPS: readonly string[] = ['=', '!=', '=~', '!~'];
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class PromqlError extends RuleSyntaxError {}

export function parseExpr(query: string): Expr {
  if (query.length > MAX_EXPRESSION_LENGTH) {
    throw new PromqlError(`the query is longer than ${MAX_EXPRESSION_LENGTH} characters`, query, MAX_EXPRESSION_LENGTH);
  }
  return new ExprParser(query).parse();
}

/** The static type of an expression. */
export function typeOf(expr: Expr): ValueType {
  switch (expr.kind) {
    case 'number':
      return 'scalar';
    case 'string':
      return 'string';
    case 'vector':
    case 'aggregation':
      return 'vector';
    case 'matrix':
      return 'matrix';
    case 'call':
      return SIGNATURES[expr.fn].returns;
    case 'binary':
      return typeOf(expr.lhs) === 'scalar' && typeOf(expr.rhs) === 'scalar' ? 'scalar' : 'vector';
    case 'unary':
    case 'paren':
      return typeOf(expr.expr);
  }
}

class ExprParser {
  private readonly tokens: Token[];
  private index = 0;

  constructor(private readonly query: string) {
    try {
      this.tokens = tokenize(query);
    } catch (error) {
      if (error instanceof RuleSyntaxError)
        throw new PromqlError(error.message.replace(/ \(at line .*$/, ''), query, error.position);
      throw error;
    }
  }

  parse(): Expr {
    if (this.peek().type === 'eof') this.fail(this.peek(), 'the query is empty');
    const expr = this.binary(0);
    const end = this.peek();
    if (end.type !== 'eof') this.fail(end, `unexpected ${describe(end)}: expected an operator or the end of the query`);
    return expr;
  }

  private binary(level: number): Expr {
    if (level === LEVELS.length) return this.unary();
    let lhs = this.binary(level + 1);
    for (;;) {
      const token = this.peek();
      const ops = LEVELS[level];
      if (!((token.type === 'punct' || token.type === 'ident') && ops.includes(token.text))) return lhs;
      this.index++;
      const op = token.text as BinaryOp;
      let returnBool = false;
      if (this.isIdent('bool')) {
        if (!COMPARISON_OPS.includes(op)) this.fail(this.peek(), 'bool goes only after a comparison operator');
        this.index++;
        returnBool = true;
      }
      const matching = this.matching(op);
      if (this.peek().type === 'eof' && COMPARISON_OPS.includes(op)) {
        this.fail(this.peek(), 'unexpected end of query: expected a number after the comparison');
      }
      const rhs = this.binary(level + 1);
      lhs = this.checkBinary({ kind: 'binary', op, lhs, rhs, returnBool, matching, pos: token.pos }, token);
    }
  }

  private matching(op: BinaryOp): VectorMatching | null {
    if (!this.isIdent('on') && !this.isIdent('ignoring')) return null;
    const on = this.next().text === 'on';
    const labels = this.labelList(on ? 'on' : 'ignoring');
    let card: VectorMatching['card'] = SET_OPS.includes(op) ? 'one-to-one' : 'one-to-one';
    let include: string[] = [];
    if (this.isIdent('group_left') || this.isIdent('group_right')) {
      const token = this.next();
      if (SET_OPS.includes(op)) this.fail(token, `${token.text} makes no sense with the set operator ${op}`);
      card = token.text === 'group_left' ? 'many-to-one' : 'one-to-many';
      if (isPunct(this.peek(), '(')) include = this.labelList(token.text);
    }
    return { on, labels, card, include };
  }

  private checkBinary(node: Expr & { kind: 'binary' }, token: Token): Expr {
    const lt = typeOf(node.lhs);
    const rt = typeOf(node.rhs);
    for (const t of [lt, rt]) {
      if (t !== 'scalar' && t !== 'vector')
        this.fail(
          token,
          `binary operator ${node.op} needs scalars or instant vectors on both sides, got ${typeName(t)}`,
        );
    }
    if (SET_OPS.includes(node.op) && (lt !== 'vector' || rt !== 'vector')) {
      this.fail(token, `set operator ${node.op} needs instant vectors on both sides`);
    }
    if (COMPARISON_OPS.includes(node.op) && lt === 'scalar' && rt === 'scalar' && !node.returnBool) {
      this.fail(token, 'comparisons between scalars must use the bool modifier');
    }
    if (node.matching && (lt !== 'vector' || rt !== 'vector')) {
      this.fail(token, 'vector matching (on, ignoring, group_left, group_right) needs instant vectors on both sides');
    }
    return node;
  }

  private unary(): Expr {
    const token = this.peek();
    if (isPunct(token, '-') || isPunct(token, '+')) {
      this.index++;
      const expr = this.unary();
      const t = typeOf(expr);
      if (t !== 'scalar' && t !== 'vector')
        this.fail(token, `unary ${token.text} needs a scalar or an instant vector, got ${typeName(t)}`);
      if (expr.kind === 'number')
        return { ...expr, value: token.text === '-' ? -expr.value : expr.value, pos: token.pos };
      return { kind: 'unary', op: token.text as '-' | '+', expr, pos: token.pos };
    }
    const base = this.postfix();
    if (isPunct(this.peek(), '^')) {
      const op = this.next();
      const rhs = this.unary();
      return this.checkBinary(
        { kind: 'binary', op: '^', lhs: base, rhs, returnBool: false, matching: this.noMatching(), pos: op.pos },
        op,
      );
    }
    return base;
  }

  private noMatching(): null {
    return null;
  }

  private postfix(): Expr {
    let expr = this.primary();
    if (isPunct(this.peek(), '[')) {
      const open = this.next();
      if (expr.kind !== 'vector')
        this.fail(open, 'a range [..] goes only after a metric selector (subqueries are not supported)');
      const rangeMs = this.duration('a range such as 5m');
      if (rangeMs <= 0) this.fail(open, 'the range must be longer than 0s');
      if (this.peek().type === 'ident' && this.peek().text.startsWith(':'))
        this.fail(this.peek(), 'subqueries ([range:step]) are not supported');
      this.expect(']', 'to close the range');
      expr = { kind: 'matrix', selector: expr, rangeMs, pos: expr.pos };
    }
    if (this.isIdent('offset')) {
      const token = this.next();
      const selector = expr.kind === 'matrix' ? expr.selector : expr.kind === 'vector' ? expr : null;
      if (!selector) this.fail(token, 'offset goes only after a metric selector or a range selector');
      let sign = 1;
      if (isPunct(this.peek(), '-')) {
        this.index++;
        sign = -1;
      }
      selector.offsetMs = sign * this.duration('a duration after offset');
    }
    if (isPunct(this.peek(), '@')) this.fail(this.peek(), 'the @ modifier is not supported');
    return expr;
  }

  private primary(): Expr {
    const token = this.peek();
    if (token.type === 'number') {
      this.index++;
      return { kind: 'number', value: Number(token.text), pos: token.pos };
    }
    if (token.type === 'duration') this.fail(token, `unexpected duration ${token.text} outside a range or offset`);
    if (token.type === 'string') {
      this.index++;
      return { kind: 'string', value: token.value!, pos: token.pos };
    }
    if (isPunct(token, '(')) {
      this.index++;
      const expr = this.binary(0);
      this.expect(')', 'to close (');
      return { kind: 'paren', expr, pos: token.pos };
    }
    if (isPunct(token, '{')) return this.selector(null, token);
    if (token.type !== 'ident')
      this.fail(token, `unexpected ${describe(token)}: expected a number, a metric name, a function or an aggregation`);
    const lower = token.text.toLowerCase();
    if (lower === 'inf' || lower === 'nan') {
      this.index++;
      return { kind: 'number', value: lower === 'inf' ? Infinity : NaN, pos: token.pos };
    }
    const after = this.tokens[this.index + 1];
    const isAggregation = (AGGREGATIONS as readonly string[]).includes(token.text);
    if (
      isAggregation &&
      (isPunct(after, '(') || (after.type === 'ident' && (after.text === 'by' || after.text === 'without')))
    ) {
      return this.aggregation();
    }
    if (isPunct(after, '(')) return this.call();
    this.index++;
    return this.selector(token.text, token);
  }

  private aggregation(): Expr {
    const opToken = this.next();
    const op = opToken.text as AggregationOp;
    let grouping = this.grouping();
    this.expect('(', `after ${op}`);
    let param: Expr | null = null;
    if (PARAM_AGGREGATIONS.includes(op)) {
      param = this.binary(0);
      if (typeOf(param) !== 'scalar') this.fail(opToken, `${op}'s first argument must be a scalar`);
      this.expect(',', `after ${op}'s parameter`);
    }
    const expr = this.binary(0);
    if (typeOf(expr) !== 'vector') this.fail(opToken, `${op}() needs an instant vector, got ${typeName(typeOf(expr))}`);
    this.expect(')', `to close ${op}(`);
    if (grouping === null) grouping = this.grouping();
    return { kind: 'aggregation', op, grouping, param, expr, pos: opToken.pos };
  }

  private grouping(): { without: boolean; labels: string[] } | null {
    if (!this.isIdent('by') && !this.isIdent('without')) return null;
    const without = this.next().text === 'without';
    return { without, labels: this.labelList(without ? 'without' : 'by') };
  }

  private labelList(context: string): string[] {
    this.expect('(', `after ${context}`);
    const labels: string[] = [];
    while (!isPunct(this.peek(), ')')) {
      const label = this.next();
      if (label.type !== 'ident' || !LABEL.test(label.text))
        this.fail(label, `unexpected ${describe(label)}: expected a label name`);
      labels.push(label.text);
      if (!isPunct(this.peek(), ')')) this.expect(',', 'between label names');
    }
    this.index++;
    return labels;
  }

  private call(): Expr {
    const fnToken = this.next();
    const fn = fnToken.text;
    const signature = SIGNATURES[fn];
    if (!signature) {
      const known = UNSUPPORTED_FUNCTIONS.includes(fn) || fn === 'count_values';
      this.fail(
        fnToken,
        known
          ? `function ${fn}() is not supported by vigil (docs/promql.md lists the supported functions)`
          : `unknown function ${fn}()`,
      );
    }
    this.expect('(', `after ${fn}`);
    const args: Expr[] = [];
    while (!isPunct(this.peek(), ')')) {
      args.push(this.binary(0));
      if (!isPunct(this.peek(), ')')) this.expect(',', 'between arguments');
    }
    this.index++;
    const min = signature.args.length - signature.optional;
    if (args.length < min || args.length > signature.args.length) {
      const count = signature.optional ? `${min} to ${signature.args.length}` : String(signature.args.length);
      this.fail(fnToken, `${fn}() takes ${count} argument(s), got ${args.length}`);
    }
    args.forEach((arg, i) => {
      const want = signature.args[i];
      const got = typeOf(arg);
      if (got !== want) this.fail(fnToken, `${fn}() argument ${i + 1} must be ${typeName(want)}, got ${typeName(got)}`);
    });
    return { kind: 'call', fn, args, pos: fnToken.pos };
  }

  private selector(name: string | null, at: Token): VectorSelector {
    const matchers: Matcher[] = [];
    if (name !== null) matchers.push({ label: '__name__', op: '=', value: name, pos: at.pos });
    if (isPunct(this.peek(), '{')) {
      this.index++;
      while (!isPunct(this.peek(), '}')) {
        matchers.push(this.matcher());
        if (!isPunct(this.peek(), '}')) this.expect(',', 'between matchers');
      }
      this.index++;
    }
    const named = matchers.find((m) => m.label === '__name__' && m.op === '=');
    if (!named && !matchers.some((m) => !matchesEmpty(m))) {
      this.fail(at, 'a selector needs a metric name or at least one matcher that does not match the empty string');
    }
    return { kind: 'vector', name: named?.value ?? null, matchers, offsetMs: 0, pos: at.pos };
  }

  private matcher(): Matcher {
    const labelToken = this.next();
    if (labelToken.type !== 'ident' || !LABEL.test(labelToken.text))
      this.fail(labelToken, `unexpected ${describe(labelToken)}: expected a label name`);
    const opToken = this.next();
    if (opToken.type !== 'punct' || !MATCH_OPS.includes(opToken.text))
      this.fail(opToken, `unexpected ${describe(opToken)}: expected =, !=, =~ or !~`);
    const valueToken = this.next();
    if (valueToken.type !== 'string')
      this.fail(valueToken, `unexpected ${describe(valueToken)}: expected a quoted string`);
    const op = opToken.text as MatchOp;
    const matcher: Matcher = { label: labelToken.text, op, value: valueToken.value!, pos: labelToken.pos };
    if (op === '=~' || op === '!~') {
      try {
        matcher.regex = new RegExp(`^(?:${matcher.value})$`, 'su');
      } catch (error) {
        this.fail(valueToken, `invalid regular expression: ${(error as Error).message}`);
      }
    }
    return matcher;
  }

  private duration(what: string): number {
    const token = this.next();
    const ms = token.type === 'duration' ? parseDuration(token.text) : null;
    if (ms === null) this.fail(token, `unexpected ${describe(token)}: expected ${what}`);
    return ms;
  }

  private isIdent(text: string): boolean {
    const token = this.peek();
    return token.type === 'ident' && token.text === text;
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
    throw new PromqlError(message, this.query, token.pos);
  }
}

function matchesEmpty(m: Matcher): boolean {
  if (m.op === '=') return m.value === '';
  if (m.op === '!=') return m.value !== '';
  if (m.op === '=~') return m.regex!.test('');
  return !m.regex!.test('');
}

function isPunct(token: Token | undefined, text: string): boolean {
  return token !== undefined && token.type === 'punct' && token.text === text;
}

/** The type with its article, for messages. */
function typeName(t: ValueType): string {
  return t === 'matrix' ? 'a range vector' : t === 'vector' ? 'an instant vector' : `a ${t}`;
}

function describe(token: Token): string {
  if (token.type === 'eof') return 'end of query';
  return JSON.stringify(
    token.text.length > EXCERPT_MAX_CHARS ? `${token.text.slice(0, EXCERPT_MAX_CHARS)}…` : token.text,
  );
}
