/**
 * Tokens of PromQL (queries and alert rules). Positions are 0-based offsets into the query; RuleSyntaxError turns
 * them into line:column and an excerpt with a caret, which the API returns with the 400.
 */

export type TokenType = 'ident' | 'number' | 'duration' | 'string' | 'punct' | 'eof';

export interface Token {
  type: TokenType;
  text: string;
  /** Decoded value of a string token. */
  value?: string;
  pos: number;
}

export class RuleSyntaxError extends Error {
  readonly line: number;
  readonly column: number;
  readonly excerpt: string;

  constructor(
    message: string,
    readonly query: string,
    readonly position: number,
  ) {
    const before = query.slice(0, position);
    const line = before.split('\n').length;
    const column = position - (before.lastIndexOf('\n') + 1) + 1;
    super(`${message} (at line ${line}, column ${column})`);
    this.name = 'RuleSyntaxError';
    this.line = line;
    this.column = column;
    const lineText = query.split('\n')[line - 1] ?? '';
    this.excerpt = `${lineText}\n${' '.repeat(column - 1)}^`;
  }
}

const IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const DURATION = /\d+(?:ms|s|m|h|d|w)(?:\d+(?:ms|s|m|h|d|w))*(?![a-zA-Z0-9_])/y;
const NUMBER = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![a-zA-Z0-9_])/y;
const BAD_NUMBER = /\.?\d[\w.]*/y;
const PUNCT = /!=|!~|=~|==|>=|<=|[(){}[\],=<>+*/%^:@-]/y;

export function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  const at = (re: RegExp): string | null => {
    re.lastIndex = pos;
    const match = re.exec(query);
    return match ? match[0] : null;
  };
  while (pos < query.length) {
    const ch = query[pos];
    if (/\s/.test(ch)) {
      pos++;
      continue;
    }
    if (ch === '#') {
      // A comment runs to the end of the line.
      while (pos < query.length && query[pos] !== '\n') pos++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const { value, end } = readString(query, pos);
      tokens.push({ type: 'string', text: query.slice(pos, end), value, pos });
      pos = end;
      continue;
    }
    let text: string | null;
    if ((text = at(IDENT)) !== null) tokens.push({ type: 'ident', text, pos });
    else if ((text = at(DURATION)) !== null) tokens.push({ type: 'duration', text, pos });
    else if ((text = at(NUMBER)) !== null) tokens.push({ type: 'number', text, pos });
    else if ((text = at(PUNCT)) !== null) tokens.push({ type: 'punct', text, pos });
    else if ((text = at(BAD_NUMBER)) !== null)
      throw new RuleSyntaxError(
        `${JSON.stringify(text)} is neither a number nor a duration (units: ms, s, m, h, d, w)`,
        query,
        pos,
      );
    else throw new RuleSyntaxError(`unexpected character ${JSON.stringify(ch)}`, query, pos);
    pos += text.length;
  }
  tokens.push({ type: 'eof', text: '', pos: query.length });
  return tokens;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };

function readString(query: string, start: number): { value: string; end: number } {
  const quote = query[start];
  let value = '';
  let pos = start + 1;
  while (pos < query.length) {
    const ch = query[pos];
    if (ch === quote) return { value, end: pos + 1 };
    if (ch === '\n') break;
    if (ch === '\\') {
      const next = query[pos + 1];
      if (next === undefined || !(next in ESCAPES))
        throw new RuleSyntaxError(`unknown escape \\${next ?? ''} in string`, query, pos);
      value += ESCAPES[next];
      pos += 2;
      continue;
    }
    value += ch;
    pos++;
  }
  throw new RuleSyntaxError('unterminated string', query, start);
}
