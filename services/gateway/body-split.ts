/**
 * Splits a request body into items as its bytes arrive, with the bounds of docs/ingest.md ("Limits"): a JSON array,
 * a batch object ({"events"|"metrics": [...]}) or NDJSON lines; the item past maxItems throws 413 at once, an item
 * with more structural tokens than maxItemValues is rejected unparsed, and items are parsed only at the end, once
 * the whole body was read within bounds. Strings and nesting are tracked with counters, never recursion.
 * body.ts feeds it (inflating, counting bytes); this file knows JSON text only.
 */
import { StringDecoder } from 'node:string_decoder';
import { VigilError, validationError } from '../../shared/errors.ts';

import { HEX_RADIX } from '../../shared/units.ts';

const FIRST_PRINTABLE_ASCII = 0x20;
const ASCII_DELETE = 0x7f;
const CODE_UNIT_HEX_DIGITS = 4;

export const JSON_TYPES = ['application/json'];
export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson'];

/** An item that was not parsed (malformed NDJSON line, too many values): rejected alone, the other items count. */
export class RejectedItem {
  constructor(
    readonly field: string,
    readonly message: string,
  ) {}
}

/**
 * `json`: one JSON value as sent (an item, or — from callers other than readBody — an array or batch object that
 * ingest splits itself); `items`: a batch already split into its items (a JSON array, a batch object, NDJSON).
 */
export type ParsedBody = { form: 'json'; value: unknown } | { form: 'items'; items: unknown[] };

export interface BodyLimits {
  /** Bytes on the wire and once decompressed. */
  maxBytes: number;
  /** Items of a batch. */
  maxItems: number;
  /** Structural tokens ({ [ , outside strings) of one item. */
  maxItemValues: number;
}

/** What the route calls its batch: the key of a batch object ("events") and the noun in messages ("event"). */
export interface BatchShape {
  batchKey: string;
  noun: string;
}

export interface Splitter {
  push(chunk: Buffer): void;
  end(): ParsedBody;
}

export function createSplitter(contentType: string | undefined, limits: BodyLimits, shape: BatchShape): Splitter {
  return isNdjson(contentType) ? new LineSplitter(limits, shape) : new JsonSplitter(limits, shape);
}

function isNdjson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return NDJSON_TYPES.includes(type);
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
/** A batch object's keys are compared with the batch key and echoed in errors: longer ones are not kept whole. */
const MAX_KEY_LENGTH = 256;

const isSpace = (c: number) => c === SPACE || c === NEWLINE || c === CARRIAGE_RETURN || c === TAB;

function tooManyItems(limits: BodyLimits, shape: BatchShape): VigilError {
  const { maxItems } = limits;
  const why = `the batch has more than ${maxItems} ${shape.noun}s; at most ${maxItems} are accepted per request: `;
  return new VigilError('VIGIL_ERR_PAYLOAD_TOO_LARGE', `${why}split it`);
}

function tooManyValues(limits: BodyLimits, shape: BatchShape): string {
  return (
    `has more than ${limits.maxItemValues} JSON values (objects, arrays and commas count); ` +
    `no valid ${shape.noun} has that many, so it was not parsed`
  );
}

function malformed(reason: string): VigilError {
  return new VigilError('VIGIL_ERR_MALFORMED_BODY', `malformed JSON body: ${reason}`);
}

/** Structural-token state carried over chunk boundaries. */
interface TokenState {
  tokens: number;
  inString: boolean;
  escaped: boolean;
}

/** Counts `{`, `[` and `,` outside strings in `text`, continuing `state`. */
function countTokens(text: string, state: TokenState): void {
  let { tokens, inString, escaped } = state;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === BACKSLASH) escaped = true;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET || c === COMMA) tokens++;
  }
  state.tokens = tokens;
  state.inString = inString;
  state.escaped = escaped;
}

/**
 * NDJSON: one item per line, split at every newline whatever came before it (a raw newline cannot be inside a
 * JSON string), so a malformed line never swallows the next. A line of at most maxItemValues characters cannot
 * hold more tokens than that and is parsed without counting; past that length its tokens are counted as it
 * arrives, and a line over the bound is dropped as it goes (never held whole, never parsed).
 */
class LineSplitter implements Splitter {
  /** Lines to parse once the body is known to be within the limits, or lines already rejected. */
  private readonly items: (string | RejectedItem)[] = [];
  private readonly decoder = new StringDecoder('utf8');
  /** The current line's text from earlier chunks. */
  private partial = '';
  private blank = true;
  private counted: TokenState | null = null;
  private tooLarge = false;

  constructor(
    private readonly limits: BodyLimits,
    private readonly shape: BatchShape,
  ) {}

  push(chunk: Buffer): void {
    this.scan(this.decoder.write(chunk), false);
  }

  end(): ParsedBody {
    this.scan(this.decoder.end(), true);
    if (this.items.length === 0) throw new VigilError('VIGIL_ERR_MALFORMED_BODY', 'the NDJSON body has no lines');
    return {
      form: 'items',
      items: this.items.map((line) => {
        if (typeof line !== 'string') return line;
        try {
          return JSON.parse(line) as unknown;
        } catch (error) {
          return new RejectedItem('(line)', `is not valid JSON: ${(error as Error).message}`);
        }
      }),
    };
  }

  private scan(text: string, last: boolean): void {
    let from = 0;
    while (from < text.length || last) {
      let newline = text.indexOf('\n', from);
      const more = newline < 0;
      if (more) newline = text.length;
      if (this.blank) {
        for (let i = from; i < newline; i++) {
          if (!isSpace(text.charCodeAt(i))) {
            if (this.items.length >= this.limits.maxItems) throw tooManyItems(this.limits, this.shape);
            this.blank = false;
            break;
          }
        }
      }
      if (!this.blank) this.take(text, from, newline);
      if (more && !last) return;
      this.endLine(text, from, newline);
      if (more) return;
      from = newline + 1;
    }
  }

  /** Characters [from, to) of the current line: counted once the line is long, kept unless it is too large. */
  private take(text: string, from: number, to: number): void {
    if (this.tooLarge) return;
    const length = this.partial.length + to - from;
    if (this.counted === null && length > this.limits.maxItemValues) {
      this.counted = { tokens: 0, inString: false, escaped: false };
      countTokens(this.partial, this.counted);
    }
    if (this.counted !== null) {
      countTokens(text.slice(from, to), this.counted);
      if (this.counted.tokens > this.limits.maxItemValues) {
        this.tooLarge = true;
        this.partial = '';
        return;
      }
    }
    if (to === text.length) this.partial += text.slice(from, to);
  }

  private endLine(text: string, from: number, to: number): void {
    if (!this.blank) {
      if (this.tooLarge) this.items.push(new RejectedItem('(line)', tooManyValues(this.limits, this.shape)));
      else {
        this.items.push(to === text.length ? this.partial : this.partial + text.slice(from, to));
      }
    }
    this.partial = '';
    this.blank = true;
    this.counted = null;
    this.tooLarge = false;
  }
}

/**
 * A JSON body, split as it arrives. A body of at most maxItemValues characters cannot cost JSON.parse more than
 * one item may: it is parsed whole at the end (one call, as fast as it gets) and ingest splits it. A longer one is
 * scanned from its first character on; the first significant character decides: `[` — its elements are the items;
 * `{` — a batch object when a key at depth 1 is the batch key and its value an array (whose elements are then
 * the items), else one item; anything else — one value. Depth counts brackets outside strings; an item is the
 * text between separators at the items' depth, parsed on its own (JSON.parse validates it: a mismatched bracket
 * makes it fail). The text outside the items' array is kept: a single item is parsed from it at the end, a batch
 * object's skeleton checked, each only if it has at most maxItemValues tokens.
 */
class JsonSplitter implements Splitter {
  /** The body while it is at most maxItemValues characters long: then it is parsed whole (the common small batch). */
  private small: string | null = '';
  /** Items to parse once the body is known to be within the limits, or items already rejected. */
  private readonly items: (string | RejectedItem)[] = [];
  private readonly decoder = new StringDecoder('utf8');
  private kind: 'array' | 'object' | 'value' | null = null;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Depth of the items' container (1: a top-level array, 2: the batch object's array), 0 while not inside it. */
  private itemDepth = 0;
  /** The next opening bracket is the items' array. */
  private itemsArrayNext = false;
  private inItem = false;
  /** Between items: the opening bracket or a comma was seen, so an item must come next. */
  private expectItem = false;
  /** The current item's text from earlier chunks. */
  private itemText = '';
  private itemTokens = 0;
  private itemTooLarge = false;
  /** The top-level value closed: only whitespace may follow. */
  private closed = false;
  /** Object and value bodies: their text outside the items' array; null once it holds too many tokens. */
  private whole: string | null = null;
  private wholeTokens = 0;
  // Object bodies: the key being read at depth 1, the last string read there, the key whose value comes next.
  private key: string | null = null;
  private lastString: string | null = null;
  private valueOf: string | null = null;
  private batchFound = false;
  private batchKeyNotArray = false;
  private firstExtraKey: string | null = null;

  constructor(
    private readonly limits: BodyLimits,
    private readonly shape: BatchShape,
  ) {}

  push(chunk: Buffer): void {
    const text = this.decoder.write(chunk);
    if (this.small !== null) {
      this.small += text;
      if (this.small.length <= this.limits.maxItemValues) return;
      const held = this.small;
      this.small = null;
      this.scan(held);
    } else this.scan(text);
  }

  end(): ParsedBody {
    if (this.small !== null) {
      // Too short to hold more tokens than one item may: parsed whole, as it came (ingest splits it).
      const text = this.small + this.decoder.end();
      if (text.trim() === '') throw malformed('the body is empty');
      return { form: 'json', value: parseOrThrow(text) };
    }
    this.scan(this.decoder.end());
    if (this.kind === null) throw malformed('the body is empty');
    if (this.inString || this.depth > 0 || this.inItem) throw malformed('the body ends before the JSON value does');
    if (this.kind === 'array') return { form: 'items', items: this.parsedItems() };
    const { batchKey, noun } = this.shape;
    if (this.batchFound) {
      if (this.whole !== null) parseOrThrow(this.whole);
      if (this.firstExtraKey !== null) {
        const message = `is not allowed next to "${batchKey}" (a batch object has only "${batchKey}")`;
        throw validationError([{ field: this.firstExtraKey.slice(0, 60), message }]);
      }
      return { form: 'items', items: this.parsedItems() };
    }
    if (this.batchKeyNotArray) throw validationError([{ field: batchKey, message: `must be an array of ${noun}s` }]);
    if (this.whole === null) {
      return { form: 'json', value: new RejectedItem('(body)', tooManyValues(this.limits, this.shape)) };
    }
    return { form: 'json', value: parseOrThrow(this.whole) };
  }

  private scan(text: string): void {
    const n = text.length;
    let itemFrom = this.inItem && !this.itemTooLarge ? 0 : -1;
    let wholeFrom = this.itemDepth === 0 ? 0 : -1;
    let keyFrom = this.key !== null ? 0 : -1;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          continue;
        }
        // To the closing quote, by native search: the next quote after an even number of backslashes.
        const from = i;
        let quote = text.indexOf('"', i);
        while (quote >= 0 && (backslashesBefore(text, quote, from) & 1) === 1) quote = text.indexOf('"', quote + 1);
        if (quote < 0) {
          this.escaped = (backslashesBefore(text, n, from) & 1) === 1; // the chunk ended inside an escape
          break;
        }
        i = quote;
        this.inString = false;
        if (keyFrom >= 0) {
          this.lastString = decodeKey(this.key! + text.slice(keyFrom, i));
          this.key = null;
          keyFrom = -1;
        }
        continue;
      }
      if (this.inItem && this.depth > this.itemDepth) {
        i = this.scanInsideItem(text, i) - 1;
        continue;
      }
      if (isSpace(c)) continue;
      if (this.closed) throw malformed(`unexpected ${describeChar(c)} after the end of the JSON value`);
      if (this.kind === null) {
        this.start(c);
        wholeFrom = i;
      }

      if (this.itemDepth !== 0 && this.depth === this.itemDepth) {
        if (this.inItem && (c === COMMA || c === CLOSE_BRACKET || c === CLOSE_BRACE)) {
          this.endItem(itemFrom >= 0 ? this.itemText + text.slice(itemFrom, i) : '');
          itemFrom = -1;
        }
        if (!this.inItem) {
          // Between the items of the items' array.
          if (c === COMMA) {
            if (this.expectItem) throw malformed(`an empty item in the array (item ${this.items.length})`);
            this.expectItem = true;
            continue;
          }
          if (c === CLOSE_BRACKET) {
            if (this.expectItem && this.items.length > 0) throw malformed('a comma before the closing bracket');
            this.depth--;
            this.itemDepth = 0;
            wholeFrom = i;
            if (this.depth === 0) this.closed = true;
            continue;
          }
          if (!this.expectItem) throw malformed(`a comma is missing before item ${this.items.length}`);
          if (this.items.length >= this.limits.maxItems) throw tooManyItems(this.limits, this.shape);
          this.inItem = true;
          this.expectItem = false;
          this.itemText = '';
          this.itemTokens = 0;
          this.itemTooLarge = false;
          itemFrom = i;
        }
      }

      let keyStarts = false;
      if (this.kind === 'object' && this.depth === 1) {
        if (this.valueOf !== null) this.startValue(c);
        else if (c === COLON && this.lastString !== null) {
          this.valueOf = this.lastString;
          this.lastString = null;
          continue;
        } else keyStarts = c === QUOTE;
        this.lastString = null;
      }
      if (c === QUOTE) {
        this.inString = true;
        if (keyStarts) {
          this.key = '';
          keyFrom = i + 1;
        }
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        this.depth++;
        this.countToken();
        if (this.itemsArrayNext) {
          this.itemsArrayNext = false;
          this.itemDepth = this.depth;
          this.expectItem = true;
          if (this.whole !== null && wholeFrom >= 0) this.whole += text.slice(wholeFrom, i + 1);
          wholeFrom = -1;
        }
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth < 0) throw malformed(`unexpected ${describeChar(c)}`);
        if (this.depth === 0) this.closed = true;
      } else if (c === COMMA) this.countToken();
    }
    if (this.inItem && itemFrom >= 0 && !this.itemTooLarge) this.itemText += text.slice(itemFrom);
    if (this.whole !== null && wholeFrom >= 0) this.whole += text.slice(wholeFrom);
    if (keyFrom >= 0 && this.key !== null && this.key.length < MAX_KEY_LENGTH) {
      this.key += text.slice(keyFrom, keyFrom + MAX_KEY_LENGTH);
    }
  }

  /**
   * Inside an item's own brackets (most of a batch), from `from`: only strings, depth and tokens matter, so this loop
   * keeps them in locals and jumps over strings by native search. Returns where the general scan goes on: after the
   * bracket that closes the item's value, or the chunk's end (possibly inside a string).
   */
  private scanInsideItem(text: string, from: number): number {
    const n = text.length;
    const floor = this.itemDepth;
    let depth = this.depth;
    let tokens = this.itemTokens;
    let i = from;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        const start = i + 1;
        let quote = text.indexOf('"', start);
        while (quote >= 0 && (backslashesBefore(text, quote, start) & 1) === 1) quote = text.indexOf('"', quote + 1);
        if (quote < 0) {
          this.inString = true;
          this.escaped = (backslashesBefore(text, n, start) & 1) === 1; // the chunk ended inside an escape
          i = n;
          break;
        }
        i = quote;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        depth++;
        tokens++;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--depth === floor) {
          i++;
          break;
        }
      } else if (c === COMMA) tokens++;
    }
    this.depth = depth;
    this.itemTokens = tokens;
    if (tokens > this.limits.maxItemValues && !this.itemTooLarge) {
      this.itemTooLarge = true;
      this.itemText = '';
    }
    return i;
  }

  private start(c: number): void {
    if (c === OPEN_BRACKET) {
      this.kind = 'array';
      this.itemsArrayNext = true;
      return;
    }
    this.kind = c === OPEN_BRACE ? 'object' : 'value';
    this.whole = '';
  }

  /** `c`, the first character of the value of the key `valueOf` of an object body. */
  private startValue(c: number): void {
    const key = this.valueOf!;
    this.valueOf = null;
    if (key !== this.shape.batchKey) {
      this.firstExtraKey ??= key;
      return;
    }
    if (this.batchFound || this.batchKeyNotArray) {
      throw validationError([{ field: key, message: 'must appear only once in a batch object' }]);
    }
    if (c === OPEN_BRACKET) {
      this.batchFound = true;
      this.itemsArrayNext = true;
    } else this.batchKeyNotArray = true;
  }

  private countToken(): void {
    if (this.inItem) {
      if (++this.itemTokens > this.limits.maxItemValues && !this.itemTooLarge) {
        this.itemTooLarge = true;
        this.itemText = '';
      }
    } else if (this.whole !== null && ++this.wholeTokens > this.limits.maxItemValues) this.whole = null;
  }

  private endItem(text: string): void {
    this.inItem = false;
    this.itemText = '';
    this.items.push(this.itemTooLarge ? new RejectedItem('(item)', tooManyValues(this.limits, this.shape)) : text);
  }

  private parsedItems(): unknown[] {
    return this.items.map((item, index) => {
      if (typeof item !== 'string') return item;
      try {
        return JSON.parse(item) as unknown;
      } catch (error) {
        throw malformed(`item ${index}: ${(error as Error).message}`);
      }
    });
  }
}

/** How many backslashes come right before `at`, not looking before `from`. */
function backslashesBefore(text: string, at: number, from: number): number {
  let count = 0;
  for (let b = at - 1; b >= from && text.charCodeAt(b) === BACKSLASH; b--) count++;
  return count;
}

function parseOrThrow(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw malformed((error as Error).message);
  }
}

/** A key's raw text (escapes undone when they are valid). */
function decodeKey(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}

function describeChar(c: number): string {
  const printable = c >= FIRST_PRINTABLE_ASCII && c < ASCII_DELETE;
  return printable
    ? `"${String.fromCharCode(c)}"`
    : `character U+${c.toString(HEX_RADIX).padStart(CODE_UNIT_HEX_DIGITS, '0')}`;
}
