/**
 * Whether the gateway's full path would keep a freshly parsed tags or payload object as it is: nested at most
 * `maxDepth` levels (the object itself is level 1, the bound of depth.ts) and nothing redaction could touch — no key
 * the redactor finds sensitive at any depth, no object with both a `value` key and a `name` or `key` key (the shape
 * whose `value` redaction may replace). One walk decides both, where the full path walks the value twice
 * (nestsDeeperThan, then the redactor, which also looks up `name`, `key` and `value` on every object); the caller
 * then takes JSON.stringify's text as the validator would. NOT_PLAIN otherwise — take the full path, which gives
 * the verdict: this only ever saves work, it never decides against an input.
 *
 * FLAT marks the common plain object whose JSON text can be cut out of a larger one: its values are strings,
 * numbers, booleans and null, and no key or string holds `}`, so its text's only `}` is its last character.
 * serialiseFlat() serialises many such objects with one JSON.stringify of their array and cuts it at those braces:
 * Node 20's JSON.stringify costs ~0.3 µs for a three-key object alone, a third less inside an array.
 * shared/schemas/plain-json.test.ts compares both with the full path.
 */
import type { Redactor } from '../redact.ts';

/** The full path may change the value or refuse it. */
export const NOT_PLAIN = 0;
/** The full path keeps the value as it is. */
export const PLAIN = 1;
/** PLAIN, and serialiseFlat() may serialise it. */
export const FLAT = 2;
export type PlainVerdict = typeof NOT_PLAIN | typeof PLAIN | typeof FLAT;

/** The verdict on a JSON object as JSON.parse makes it. */
export type PlainCheck = (value: Record<string, unknown>) => PlainVerdict;

/** Bits of an object's shape: a `value` key, a `name` or `key` key (redaction's `{"name": …, "value": …}` rule). */
const HAS_VALUE = 1;
const HAS_NAME = 2;
const REDACTABLE_SHAPE = HAS_VALUE | HAS_NAME;
const CLOSE_BRACE = '}';

/** Builds the check for one redactor and depth bound (INGEST_MAX_DEPTH). */
export function createPlainCheck(redact: Redactor, maxDepth: number): PlainCheck {
  /** An object at `depth` (1: the value itself) within the bound, with nothing to redact at any depth. */
  const plainObject = (value: Record<string, unknown>, depth: number): boolean => {
    if (depth > maxDepth) return false;
    let shape = 0;
    for (const key in value) {
      if (redact.isSensitiveKey(key)) return false;
      if (key === 'value') shape |= HAS_VALUE;
      else if (key === 'name' || key === 'key') shape |= HAS_NAME;
      const inner = value[key];
      if (typeof inner === 'object' && inner !== null && !plainInner(inner, depth + 1)) return false;
    }
    return shape !== REDACTABLE_SHAPE;
  };
  /** An object or array at `depth`. */
  const plainInner = (value: object, depth: number): boolean => {
    if (!Array.isArray(value)) return plainObject(value as Record<string, unknown>, depth);
    if (depth > maxDepth) return false;
    for (const inner of value) {
      if (typeof inner === 'object' && inner !== null && !plainInner(inner, depth + 1)) return false;
    }
    return true;
  };
  /** Values of primitives only, and no `}` in a key or a string (checked once the object is known plain). */
  const flat = (value: Record<string, unknown>): boolean => {
    for (const key in value) {
      const inner = value[key];
      if (key.includes(CLOSE_BRACE)) return false;
      if (typeof inner === 'string' ? inner.includes(CLOSE_BRACE) : typeof inner === 'object' && inner !== null) {
        return false;
      }
    }
    return true;
  };
  return (value) => {
    if (!plainObject(value, 1)) return NOT_PLAIN;
    return flat(value) ? FLAT : PLAIN;
  };
}

/** JSON.stringify's text of each of `values`, objects the check found FLAT, in one call. */
export function serialiseFlat(values: readonly Record<string, unknown>[]): string[] {
  const texts: string[] = new Array(values.length);
  if (values.length === 0) return texts;
  const all = JSON.stringify(values);
  // `[` then the texts separated by `,`: each ends at the first `}` after its start.
  let from = 1;
  for (let i = 0; i < values.length; i++) {
    const end = all.indexOf(CLOSE_BRACE, from) + 1;
    texts[i] = all.slice(from, end);
    from = end + 1;
  }
  return texts;
}
