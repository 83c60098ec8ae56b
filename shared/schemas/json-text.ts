/**
 * A validating scan of JSON object text (tags and payload of Avro events) that decides, without building any
 * object, whether the full path — JSON.parse, the depth bound, redaction, the key count — would keep the text as it
 * is. It answers with the text's top-level key count when it is sure of that: the text is well-formed JSON as
 * JSON.parse reads it, a JSON object, nested at most `maxDepth` levels (the object itself is level 1: the bound of
 * depth.ts), with at most `maxKeys` keys at its top level (counted with repeats, so never fewer than JSON.parse
 * keeps), and nothing that redaction could touch: no key the redactor finds sensitive at any depth, no object with
 * both a `value` key and a `name` or `key` key (the shape whose `value` redaction may replace), no key written with
 * an escape (its name would need decoding to be judged) and no \u escape of a UTF-16 surrogate (the validator must
 * look at the parsed value to tell a pair from a lone half). Anything else — malformed text, an array, too deep, a
 * sensitive key — answers NOT_PLAIN, and the caller takes the full path, which gives the verdict and the error
 * message: the scan only ever saves work, it never decides against an input. services/writer/json-text.test.ts
 * compares both paths on random and adversarial input.
 */
import type { Redactor } from '../redact.ts';

/** The scan is not sure the text is a plain object that redaction leaves alone: take the full path. */
export const NOT_PLAIN = -1;

export type JsonTextScan = (text: string, maxKeys: number) => number;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const SPACE = 0x20;
const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_1 = 0x31;
const DIGIT_9 = 0x39;
const LOWER_A = 0x61;
const LOWER_B = 0x62;
const LOWER_D = 0x64;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_N = 0x6e;
const LOWER_R = 0x72;
const LOWER_T = 0x74;
const LOWER_U = 0x75;
const UPPER_A = 0x41;
const UPPER_D = 0x44;
const UPPER_E = 0x45;
const UPPER_F = 0x46;
const DIGIT_8 = 0x38;
/** Below this, a character must be escaped inside a JSON string. */
const FIRST_PLAIN_CHAR = 0x20;
/** `\u` before the hex digits of an escape. */
const UNICODE_ESCAPE_PREFIX = 2;
/** Hex digits after \u. */
const UNICODE_ESCAPE_DIGITS = 4;
const LITERAL_TRUE = 'true';
const LITERAL_FALSE = 'false';
const LITERAL_NULL = 'null';

/** What a container on the scan's stack is. */
const IN_OBJECT = 1;
const IN_ARRAY = 2;

/** Keys an object's shape is judged by (redaction's `{"name": …, "value": …}` rule). */
const KEY_VALUE = 'value';
const KEY_NAME = 'name';
const KEY_KEY = 'key';

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= LOWER_A && c <= LOWER_F) || (c >= UPPER_A && c <= UPPER_F);
}

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === LINE_FEED || c === CARRIAGE_RETURN;
}

/** \uD800–\uDFFF: first hex digit d/D, second 8–f. */
function isSurrogateEscape(first: number, second: number): boolean {
  return (
    (first === LOWER_D || first === UPPER_D) &&
    ((second >= DIGIT_8 && second <= DIGIT_9) ||
      (second >= LOWER_A && second <= LOWER_F) ||
      (second >= UPPER_A && second <= UPPER_F))
  );
}

/**
 * Builds the scan for one redactor and depth bound. Returns the top-level key count of a plain object text, or
 * NOT_PLAIN. Not re-entrant (one stack per scan function; JavaScript runs one scan at a time).
 */
export function createJsonTextScan(redact: Redactor, maxDepth: number): JsonTextScan {
  const stack = new Uint8Array(maxDepth + 1);
  /** Per open object: bit 1 has `value`, bit 2 has `name` or `key`. */
  const shapes = new Uint8Array(maxDepth + 1);
  const HAS_VALUE = 1;
  const HAS_NAME = 2;
  const BOTH = HAS_VALUE | HAS_NAME;

  return (text, maxKeys) => {
    if (maxDepth < 1) return NOT_PLAIN;
    const end = text.length;
    let i = 0;
    let depth = 0;
    let topKeys = 0;
    while (i < end && isSpace(text.charCodeAt(i))) i++;
    if (i >= end || text.charCodeAt(i) !== OPEN_BRACE) return NOT_PLAIN;
    // The position is just after an opening brace, or after a value inside a container; `expectKey` marks the start
    // of an object member, `first` an empty container still possible.
    stack[++depth] = IN_OBJECT;
    shapes[depth] = 0;
    i++;
    let first = true;
    let expectKey = true;
    for (;;) {
      while (i < end && isSpace(text.charCodeAt(i))) i++;
      if (i >= end) return NOT_PLAIN;
      let c = text.charCodeAt(i);
      const container = stack[depth];
      if (!first && !expectKey) {
        // After a value: a comma or the container's end.
        if (c === COMMA) {
          i++;
          expectKey = container === IN_OBJECT;
          if (container === IN_ARRAY) {
            // Next: a value.
            while (i < end && isSpace(text.charCodeAt(i))) i++;
            if (i >= end) return NOT_PLAIN;
            c = text.charCodeAt(i);
          } else continue;
        } else if ((c === CLOSE_BRACE && container === IN_OBJECT) || (c === CLOSE_BRACKET && container === IN_ARRAY)) {
          i++;
          depth--;
          if (depth === 0) {
            while (i < end && isSpace(text.charCodeAt(i))) i++;
            return i === end ? topKeys : NOT_PLAIN;
          }
          continue;
        } else return NOT_PLAIN;
      } else if (first) {
        first = false;
        if ((c === CLOSE_BRACE && container === IN_OBJECT) || (c === CLOSE_BRACKET && container === IN_ARRAY)) {
          i++;
          depth--;
          if (depth === 0) {
            while (i < end && isSpace(text.charCodeAt(i))) i++;
            return i === end ? topKeys : NOT_PLAIN;
          }
          expectKey = false;
          continue;
        }
      }
      if (expectKey) {
        // "key" : — keys with escapes are not judged here.
        if (c !== QUOTE) return NOT_PLAIN;
        const start = ++i;
        for (;;) {
          if (i >= end) return NOT_PLAIN;
          const k = text.charCodeAt(i);
          if (k === QUOTE) break;
          if (k === BACKSLASH || k < FIRST_PLAIN_CHAR) return NOT_PLAIN;
          i++;
        }
        const key = text.slice(start, i);
        i++;
        if (redact.isSensitiveKey(key)) return NOT_PLAIN;
        if (key === KEY_VALUE) shapes[depth] |= HAS_VALUE;
        else if (key === KEY_NAME || key === KEY_KEY) shapes[depth] |= HAS_NAME;
        if (shapes[depth] === BOTH) return NOT_PLAIN;
        if (depth === 1 && ++topKeys > maxKeys) return NOT_PLAIN;
        while (i < end && isSpace(text.charCodeAt(i))) i++;
        if (i >= end || text.charCodeAt(i) !== COLON) return NOT_PLAIN;
        i++;
        while (i < end && isSpace(text.charCodeAt(i))) i++;
        if (i >= end) return NOT_PLAIN;
        c = text.charCodeAt(i);
        expectKey = false;
      }
      // A value starts at i.
      if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (depth >= maxDepth) return NOT_PLAIN;
        depth++;
        stack[depth] = c === OPEN_BRACE ? IN_OBJECT : IN_ARRAY;
        shapes[depth] = 0;
        i++;
        first = true;
        expectKey = c === OPEN_BRACE;
        continue;
      }
      if (c === QUOTE) {
        i++;
        for (;;) {
          if (i >= end) return NOT_PLAIN;
          const s = text.charCodeAt(i);
          if (s === QUOTE) break;
          if (s < FIRST_PLAIN_CHAR) return NOT_PLAIN;
          if (s === BACKSLASH) {
            const e = text.charCodeAt(i + 1);
            if (e === LOWER_U) {
              const digits = i + UNICODE_ESCAPE_PREFIX;
              if (digits + UNICODE_ESCAPE_DIGITS >= end) return NOT_PLAIN;
              for (let h = digits; h < digits + UNICODE_ESCAPE_DIGITS; h++)
                if (!isHex(text.charCodeAt(h))) return NOT_PLAIN;
              if (isSurrogateEscape(text.charCodeAt(digits), text.charCodeAt(digits + 1))) return NOT_PLAIN;
              i = digits + UNICODE_ESCAPE_DIGITS;
              continue;
            }
            if (
              e === QUOTE ||
              e === BACKSLASH ||
              e === SLASH ||
              e === LOWER_B ||
              e === LOWER_F ||
              e === LOWER_N ||
              e === LOWER_R ||
              e === LOWER_T
            ) {
              i += 2;
              continue;
            }
            return NOT_PLAIN;
          }
          i++;
        }
        i++;
      } else if (c === MINUS || isDigit(c)) {
        if (c === MINUS) i++;
        if (i >= end) return NOT_PLAIN;
        const lead = text.charCodeAt(i);
        if (lead === DIGIT_0) i++;
        else if (lead >= DIGIT_1 && lead <= DIGIT_9) while (i < end && isDigit(text.charCodeAt(i))) i++;
        else return NOT_PLAIN;
        if (i < end && text.charCodeAt(i) === DOT) {
          i++;
          if (i >= end || !isDigit(text.charCodeAt(i))) return NOT_PLAIN;
          while (i < end && isDigit(text.charCodeAt(i))) i++;
        }
        if (i < end && (text.charCodeAt(i) === LOWER_E || text.charCodeAt(i) === UPPER_E)) {
          i++;
          if (i < end && (text.charCodeAt(i) === PLUS || text.charCodeAt(i) === MINUS)) i++;
          if (i >= end || !isDigit(text.charCodeAt(i))) return NOT_PLAIN;
          while (i < end && isDigit(text.charCodeAt(i))) i++;
        }
      } else if (c === LOWER_T && text.startsWith(LITERAL_TRUE, i)) i += LITERAL_TRUE.length;
      else if (c === LOWER_F && text.startsWith(LITERAL_FALSE, i)) i += LITERAL_FALSE.length;
      else if (c === LOWER_N && text.startsWith(LITERAL_NULL, i)) i += LITERAL_NULL.length;
      else return NOT_PLAIN;
    }
  };
}
