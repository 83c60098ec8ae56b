/**
 * Query-string parsing shared by the query routes: each helper validates one parameter and records a FieldError
 * naming it, so a bad request is answered with every problem at once (400, VIGIL_ERR_VALIDATION).
 */
import { validationError, type FieldError } from '../../shared/errors.ts';

import { MS_PER_DAY, MS_PER_SECOND } from '../../shared/units.ts';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DURATION = /^(\d+)(ms|s|m|h|d)?$/;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export class QueryParams {
  private readonly errors: FieldError[] = [];

  /**
   * `known` names the accepted parameters; `prefixes` the families of dynamic ones (e.g. `tag.` for `tag.service`).
   * Anything else is refused, so a typo (`sorce=api`) is a 400 instead of a silently unfiltered answer.
   */
  constructor(
    private readonly query: Record<string, unknown>,
    known: readonly string[],
    prefixes: readonly string[] = [],
  ) {
    for (const name of Object.keys(query)) {
      if (known.includes(name) || prefixes.some((p) => name.startsWith(p))) continue;
      const families = prefixes.map((p) => `${p}<key>`);
      this.errors.push({
        field: name,
        message: `is not a known parameter (known: ${[...known, ...families].join(', ')})`,
      });
    }
  }

  private single(name: string): string | undefined {
    const value = this.query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      this.errors.push({ field: name, message: 'must be given once' });
      return undefined;
    }
    return value;
  }

  has(name: string): boolean {
    return this.query[name] !== undefined;
  }

  string(name: string, maxLength = 255): string | undefined {
    const value = this.single(name);
    if (value !== undefined && (value === '' || value.length > maxLength || value.includes('\u0000'))) {
      this.errors.push({
        field: name,
        message: `must be a non-empty string of at most ${maxLength} characters without NUL`,
      });
      return undefined;
    }
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const value = this.single(name);
    if (value !== undefined && !(allowed as readonly string[]).includes(value)) {
      this.errors.push({ field: name, message: `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}` });
      return undefined;
    }
    return value as T | undefined;
  }

  int(name: string, opts: { min: number; max: number; default: number }): number {
    const value = this.single(name);
    if (value === undefined) return opts.default;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < opts.min || n > opts.max) {
      this.errors.push({
        field: name,
        message: `must be an integer from ${opts.min} to ${opts.max}, got ${JSON.stringify(value)}`,
      });
      return opts.default;
    }
    return n;
  }

  time(name: string): Date | undefined {
    const value = this.single(name);
    if (value === undefined) return undefined;
    const ms = ISO_DATE_TIME.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(ms)) {
      this.errors.push({
        field: name,
        message: `must be an ISO 8601 date-time with a zone, e.g. 2024-01-01T00:00:00Z, got ${JSON.stringify(value)}`,
      });
      return undefined;
    }
    return new Date(ms);
  }

  /** A duration such as `30s`, `5m`, `1h`, `1d`, `500ms` or plain seconds; returns milliseconds. */
  duration(name: string, opts: { minMs: number; maxMs: number }): number | undefined {
    const value = this.single(name);
    if (value === undefined) return undefined;
    const match = DURATION.exec(value);
    const ms = match ? Number(match[1]) * DURATION_UNITS[match[2] ?? 's'] : NaN;
    if (!(ms >= opts.minMs && ms <= opts.maxMs)) {
      this.errors.push({
        field: name,
        message:
          `must be a duration like 30s, 5m, 1h or 1d (or seconds) from ${opts.minMs / MS_PER_SECOND}s to ` +
          `${opts.maxMs / MS_PER_DAY}d, got ${JSON.stringify(value)}`,
      });
      return undefined;
    }
    return ms;
  }

  uuid(name: string): string | undefined {
    const value = this.single(name);
    if (value !== undefined && !UUID.test(value)) {
      this.errors.push({ field: name, message: `must be a UUID, got ${JSON.stringify(value)}` });
      return undefined;
    }
    return value?.toLowerCase();
  }

  /** Every `<prefix><key>=<value>` pair, sorted by key; keys and values are non-empty, NUL-free and bounded. */
  prefixed(prefix: string, opts: { maxPairs: number; maxLength: number }): [string, string][] {
    const pairs: [string, string][] = [];
    for (const name of Object.keys(this.query).sort()) {
      if (!name.startsWith(prefix)) continue;
      const key = name.slice(prefix.length);
      const value = this.string(name, opts.maxLength);
      if (key === '' || key.length > opts.maxLength || key.includes('\u0000')) {
        this.errors.push({ field: name, message: `must name a key after "${prefix}", e.g. ${prefix}service=api` });
      } else if (value !== undefined) {
        pairs.push([key, value]);
      }
    }
    if (pairs.length > opts.maxPairs)
      this.errors.push({ field: `${prefix}*`, message: `at most ${opts.maxPairs} filters, got ${pairs.length}` });
    return pairs;
  }

  fail(field: string, message: string): void {
    this.errors.push({ field, message });
  }

  get failed(): boolean {
    return this.errors.length > 0;
  }

  /** Throws the collected errors, if any. */
  done(): void {
    if (this.errors.length > 0) throw validationError(this.errors);
  }
}
