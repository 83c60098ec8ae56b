/**
 * The JSON text of a freshly parsed tags or payload object when the gateway's full path would keep the object as it
 * is: nested at most `maxDepth` levels (the object itself is level 1, the bound of depth.ts) and nothing redaction
 * could touch — no key the redactor finds sensitive at any depth, no object with both a `value` key and a `name` or
 * `key` key (the shape whose `value` redaction may replace). One walk decides both, where the full path walks the
 * value twice (nestsDeeperThan, then the redactor, which also looks up `name`, `key` and `value` on every object);
 * the text is JSON.stringify's. Null otherwise — take the full path, which gives the verdict: this only ever saves
 * work, it never decides against an input. shared/schemas/plain-json.test.ts compares it with the full path.
 */
import type { Redactor } from '../redact.ts';

/** JSON.stringify(value) when the depth bound and redaction leave `value` as it is, else null. */
export type PlainJson = (value: Record<string, unknown>) => string | null;

/** Bits of an object's shape: a `value` key, a `name` or `key` key (redaction's `{"name": …, "value": …}` rule). */
const HAS_VALUE = 1;
const HAS_NAME = 2;
const REDACTABLE_SHAPE = HAS_VALUE | HAS_NAME;

/** Builds the check for one redactor and depth bound (INGEST_MAX_DEPTH). */
export function createPlainJson(redact: Redactor, maxDepth: number): PlainJson {
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
  return (value) => (plainObject(value, 1) ? JSON.stringify(value) : null);
}
