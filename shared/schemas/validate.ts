/**
 * Building blocks shared by the event and metric validators. Each check appends one FieldError naming the field
 * and the rule, so a client learns everything wrong with an item in one round trip.
 */
import type { FieldError } from '../errors.ts';
import { ISO_DATE_TIME, UUID } from './primitives.ts';
import { MAX_UTF8_BYTES_PER_UTF16_UNIT, MS_PER_DAY, MS_PER_SECOND } from '../units.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface TimeWindow {
  now: number;
  retentionDays: number;
  futureGraceSeconds: number;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class Checker {
  readonly errors: FieldError[] = [];

  constructor(private readonly index?: number) {}

  fail(field: string, message: string): void {
    this.errors.push(this.index === undefined ? { field, message } : { index: this.index, field, message });
  }

  /** A required or optional string without NUL (PostgreSQL text cannot hold it) and within maxLength. */
  string(field: string, value: unknown, opts: { required: boolean; maxLength: number }): string | null {
    if (value === undefined || value === null) {
      if (opts.required) this.fail(field, 'is required');
      return null;
    }
    if (typeof value !== 'string') {
      this.fail(field, `must be a string, got ${describe(value)}`);
      return null;
    }
    if (opts.required && value.trim() === '') this.fail(field, 'must not be empty');
    else if (value.length > opts.maxLength)
      this.fail(field, `must be at most ${opts.maxLength} characters, got ${value.length}`);
    else if (value.includes('\u0000')) this.fail(field, 'must not contain the NUL character');
    else return value;
    return null;
  }

  oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[], required: boolean): T | null {
    if (value === undefined || value === null) {
      if (required) this.fail(field, `is required (one of ${allowed.join(', ')})`);
      return null;
    }
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(field, `must be one of ${allowed.join(', ')}, got ${describe(value)}`);
      return null;
    }
    return value as T;
  }

  /**
   * A JSON object with at most maxKeys top-level keys and at most maxBytes when serialised; returns the JSON text:
   * `text` when given (the JSON text `value` was parsed from, unchanged since: a consumer of Avro events keeps it
   * rather than serialising what it just parsed), else JSON.stringify(value). `keys` given: `value` was not parsed,
   * it is `text`, which a scan found to be a JSON object with that many top-level keys (shared/schemas/json-text.ts).
   */
  jsonObject(
    field: string,
    value: unknown,
    opts: { maxKeys: number; maxBytes: number },
    text?: string,
    keys?: number,
  ): string | null {
    if (value === undefined || value === null) return '{}';
    if (keys === undefined && !isPlainObject(value)) {
      this.fail(field, `must be a JSON object, got ${describe(value)}`);
      return null;
    }
    // No object has more than MAX_SAFE_INTEGER keys: an unbounded field (payload) is not counted.
    const count = keys ?? (opts.maxKeys < Number.MAX_SAFE_INTEGER ? Object.keys(value as object).length : 0);
    if (count > opts.maxKeys) {
      this.fail(field, `must have at most ${opts.maxKeys} keys, got ${count}`);
      return null;
    }
    const json = text ?? JSON.stringify(value);
    // Length in UTF-16 units ≤ bytes in UTF-8: count bytes only when the text could be over.
    if (json.length * MAX_UTF8_BYTES_PER_UTF16_UNIT > opts.maxBytes && Buffer.byteLength(json) > opts.maxBytes) {
      this.fail(field, `must be at most ${opts.maxBytes} bytes as JSON, got ${Buffer.byteLength(json)}`);
      return null;
    }
    // Both checks below look for \u escapes: most texts have none, found by one search.
    const unicodeEscapes = json.includes('\\u');
    // jsonb rejects \u0000 anywhere, keys included.
    if (unicodeEscapes && json.includes('\\u0000')) {
      this.fail(field, 'must not contain the NUL character');
      return null;
    }
    // jsonb also rejects an unpaired surrogate, which JSON.stringify writes as a \udXXX escape (a pair it writes as
    // the character itself). A producer's own text may escape pairs too: only then is the value serialised to tell.
    const escapes = unicodeEscapes && SURROGATE_ESCAPE.test(json);
    if (
      escapes &&
      (text === undefined || SURROGATE_ESCAPE.test(JSON.stringify(keys === undefined ? value : JSON.parse(json))))
    ) {
      this.fail(field, UNPAIRED_SURROGATE);
      return null;
    }
    return json;
  }

  uuid(field: string, value: unknown): string | null {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string' || !UUID.test(value)) {
      this.fail(field, `must be a UUID (e.g. 0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d), got ${describe(value)}`);
      return null;
    }
    return value.toLowerCase();
  }

  /** ISO 8601 with zone or epoch milliseconds, inside [now - retention, now + grace]. Returns epoch ms. */
  timestamp(field: string, value: unknown, window: TimeWindow): number | null {
    if (value === undefined || value === null) return null;
    let ms: number;
    if (typeof value === 'number' && Number.isFinite(value)) ms = Math.trunc(value);
    else if (typeof value === 'string' && ISO_DATE_TIME.test(value)) ms = Date.parse(value);
    else {
      this.fail(
        field,
        `must be an ISO 8601 date-time with a zone (e.g. 2024-01-01T00:00:00Z) or epoch milliseconds, got ` +
          `${describe(value)}`,
      );
      return null;
    }
    // Beyond ±8.64e15 ms a Date is invalid (toISOString throws): such a number is not a time at all.
    if (Number.isNaN(ms) || Math.abs(ms) > MAX_DATE_MS) {
      this.fail(field, `is not a valid date: ${describe(value)}`);
      return null;
    }
    const oldest = window.now - window.retentionDays * MS_PER_DAY;
    const newest = window.now + window.futureGraceSeconds * MS_PER_SECOND;
    if (ms < oldest || ms > newest) {
      this.fail(
        field,
        `must be between ${new Date(oldest).toISOString()} and ${new Date(newest).toISOString()} (retention ` +
          `${window.retentionDays} days, future grace ${window.futureGraceSeconds} s), got ` +
          `${new Date(ms).toISOString()}`,
      );
      return null;
    }
    return ms;
  }

  /** Names at most MAX_UNKNOWN_KEYS unknown keys, then one summary: a hostile item with 100k keys costs one error. */
  unknownKeys(value: Record<string, unknown>, known: ReadonlySet<string>): void {
    let unknown = 0;
    for (const key in value) {
      if (known.has(key)) continue;
      if (++unknown <= MAX_UNKNOWN_KEYS)
        this.fail(describeKey(key), `is not a known field (known: ${[...known].join(', ')})`);
    }
    if (unknown > MAX_UNKNOWN_KEYS)
      this.fail('(body)', `has ${unknown} unknown fields; the first ${MAX_UNKNOWN_KEYS} are listed`);
  }
}

const MAX_UNKNOWN_KEYS = 10;
/** A \uD800–\uDFFF escape in JSON text (not preceded by an escaped backslash). */
const SURROGATE_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;
/** A UTF-16 surrogate without its other half. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const UNPAIRED_SURROGATE = 'must not contain an unpaired UTF-16 surrogate (PostgreSQL refuses it in JSON)';
const MAX_DATE_MS = 8.64e15;

/** A client-chosen key echoed in an error, cut so that a 1 MB key does not come back in the response. */
function describeKey(key: string): string {
  return key.length > 60 ? `${key.slice(0, 60)}…` : key;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
