/**
 * Sensitive-data redaction, the contract's "no sensitive data in events". One module for both ends of the wire: the
 * gateway and the writer apply it before anything is stored, the client SDK before anything leaves the process.
 *
 * Keys (createRedactor): a key is sensitive when, lowercased with everything but letters and digits removed, it
 * contains a deny-list entry of five or more characters normalised the same way (`X-Api-Key`, `api_key`, `apiKey`
 * and `stripe_api_key` all match `api_key`), or when one of its words is a shorter entry (words are split at
 * punctuation and at lower-to-upper case changes: `X-Auth`, `basicAuth`, `db_pass` match `auth` and `pass`;
 * `author` and `passenger` do not). The value under a sensitive key becomes "[REDACTED]" whatever its type, and so
 * does the `value` of an object whose `name` or `key` is a sensitive key (`headers: [{"name": "Authorization",
 * "value": "Bearer x"}]`, OTLP attributes). Objects and arrays are walked to any depth (up to MAX_DEPTH). Pure: the
 * input is never mutated, and subtrees that needed no change are shared with the result, so the common case
 * (nothing sensitive) allocates nothing.
 *
 * Text (redactSecrets): common secret shapes inside free text — bearer tokens, JWTs, AWS access key ids, card
 * numbers that pass the Luhn check — become "[REDACTED]". One cheap scan for their telltale signs runs first; the
 * patterns themselves run only on text that has one.
 */

const CHAR_CODE_ZERO = 48; // '0'
const MAX_DIGIT = 9;

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
  'auth',
  'pwd',
  'pass',
  'bearer',
  'jwt',
  'dsn',
];

/** Entries this short match whole words of a key only (`auth` would otherwise match `author`). */
const WORD_ENTRY_MAX_LENGTH = 4;

/** Deeper structures are returned as they are: JSON this deep is not what events carry, and cycles must end. */
const MAX_DEPTH = 32;
/** Verdicts per key are cached; producers reuse a small set of keys, but a hostile one must not grow memory. */
const CACHE_MAX = 4096;

export interface Redactor {
  <T>(value: T): T;
  /** Whether the value under this key is replaced (shared/schemas/json-text.ts judges JSON text with it). */
  isSensitiveKey(key: string): boolean;
}

export function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** A key's words, lowercased: split at anything but letters and digits, and where lower case meets upper case. */
function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

/** Builds a redactor for a deny-list (entries are matched case-insensitively, ignoring `_`, `-` and the like). */
export function createRedactor(keys: readonly string[] = DEFAULT_SENSITIVE_KEYS): Redactor {
  const normalised = [...new Set(keys.map(normaliseKey).filter((k) => k !== ''))];
  const needles = normalised.filter((k) => k.length > WORD_ENTRY_MAX_LENGTH);
  const words = new Set(normalised.filter((k) => k.length <= WORD_ENTRY_MAX_LENGTH));
  const verdicts = new Map<string, boolean>();
  const isSensitive = (key: string): boolean => {
    let verdict = verdicts.get(key);
    if (verdict === undefined) {
      const flat = normaliseKey(key);
      verdict = needles.some((needle) => flat.includes(needle));
      if (!verdict && words.size > 0) verdict = keyWords(key).some((w) => words.has(w));
      if (verdicts.size >= CACHE_MAX) verdicts.clear();
      verdicts.set(key, verdict);
    }
    return verdict;
  };
  /** `{"name": "Authorization", "value": …}`: the object names a sensitive key, its `value` is what it holds. */
  const namesSensitiveKey = (object: Record<string, unknown>): boolean => {
    const name = typeof object.name === 'string' ? object.name : object.key;
    return typeof name === 'string' && Object.hasOwn(object, 'value') && isSensitive(name);
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
    const object = value as Record<string, unknown>;
    const holdsSecret = namesSensitiveKey(object);
    let copy: Record<string, unknown> | null = null;
    for (const key of Object.keys(object)) {
      const current = object[key];
      const next = isSensitive(key) || (holdsSecret && key === 'value') ? REDACTED : walk(current, depth + 1);
      if (next !== current) (copy ??= { ...object })[key] = next;
    }
    return copy ?? value;
  };

  return Object.assign(<T>(value: T): T => walk(value, 0) as T, { isSensitiveKey: isSensitive });
}

/** Redacts with the default deny-list. */
export const redact: Redactor = createRedactor();

// Secret shapes in free text. Each pattern is linear: no nested quantifiers over the same characters.
const BEARER = /\bbearer\s+[A-Za-z0-9\-._~+/]+=*/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const AWS_ACCESS_KEY_ID = /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b/g;
/** 13 to 19 digits, optionally grouped by single spaces or dashes. */
const CARD_NUMBER = /\b\d(?:[ -]?\d){12,18}\b/g;
/** The telltale signs: one scan decides whether any pattern above can match. */
const SECRET_HINT = /[Bb][Ee][Aa][Rr][Ee][Rr]|eyJ|A[A-Z]{3}[A-Z0-9]{16}|\d(?:[ -]?\d){12}/;

/** Replaces bearer tokens, JWTs, AWS access key ids and Luhn-valid card numbers inside `text` by "[REDACTED]". */
export function redactSecrets(text: string): string {
  if (!SECRET_HINT.test(text)) return text;
  return text
    .replace(BEARER, `Bearer ${REDACTED}`)
    .replace(JWT, REDACTED)
    .replace(AWS_ACCESS_KEY_ID, REDACTED)
    .replace(CARD_NUMBER, (digits) => (passesLuhn(digits) ? REDACTED : digits));
}

function passesLuhn(candidate: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = candidate.length - 1; i >= 0; i--) {
    const c = candidate.charCodeAt(i) - CHAR_CODE_ZERO;
    if (c < 0 || c > MAX_DIGIT) continue; // a separator
    let d = c;
    if (double && (d *= 2) > MAX_DIGIT) d -= MAX_DIGIT;
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}
