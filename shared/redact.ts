/**
 * Sensitive-key redaction, the seed's "don't log sensitive data". One function for both ends of the wire: the
 * gateway applies it before anything is stored, the client SDK before anything leaves the instrumented process.
 *
 * A key is sensitive when, lowercased with everything but letters and digits removed, it contains a deny-list entry
 * normalised the same way: `X-Api-Key`, `api_key`, `apiKey` and `stripe_api_key` all match `api_key`. The value under
 * a sensitive key becomes "[REDACTED]" whatever its type; objects and arrays are walked to any depth (up to
 * MAX_DEPTH). Pure: the input is never mutated, and subtrees that needed no change are shared with the result, so
 * the common case (nothing sensitive) allocates nothing.
 */

export const REDACTED = '[REDACTED]';

export const DEFAULT_SENSITIVE_KEYS: readonly string[] = [
  'password',
  'passwd',
  'secret',
  'token',
  'api_key',
  'access_key',
  'private_key',
  'authorization',
  'cookie',
  'credential',
  'session_id',
  'credit_card',
  'card_number',
  'cvv',
];

/** Deeper structures are returned as they are: JSON this deep is not what events carry, and cycles must end. */
const MAX_DEPTH = 32;
/** Verdicts per key are cached; producers reuse a small set of keys, but a hostile one must not grow memory. */
const CACHE_MAX = 4096;

export type Redactor = <T>(value: T) => T;

export function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Builds a redactor for a deny-list (entries are matched case-insensitively, ignoring `_`, `-` and the like). */
export function createRedactor(keys: readonly string[] = DEFAULT_SENSITIVE_KEYS): Redactor {
  const needles = [...new Set(keys.map(normaliseKey).filter((k) => k !== ''))];
  const verdicts = new Map<string, boolean>();
  const isSensitive = (key: string): boolean => {
    let verdict = verdicts.get(key);
    if (verdict === undefined) {
      const normalised = normaliseKey(key);
      verdict = needles.some((needle) => normalised.includes(needle));
      if (verdicts.size >= CACHE_MAX) verdicts.clear();
      verdicts.set(key, verdict);
    }
    return verdict;
  };

  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
    if (Array.isArray(value)) {
      let copy: unknown[] | null = null;
      for (let i = 0; i < value.length; i++) {
        const next = walk(value[i], depth + 1);
        if (next !== value[i]) (copy ??= value.slice())[i] = next;
      }
      return copy ?? value;
    }
    let copy: Record<string, unknown> | null = null;
    for (const key of Object.keys(value)) {
      const current = (value as Record<string, unknown>)[key];
      const next = isSensitive(key) ? REDACTED : walk(current, depth + 1);
      if (next !== current) (copy ??= { ...(value as Record<string, unknown>) })[key] = next;
    }
    return copy ?? value;
  };

  return <T>(value: T): T => walk(value, 0) as T;
}

/** Redacts with the default deny-list. */
export const redact: Redactor = createRedactor();
