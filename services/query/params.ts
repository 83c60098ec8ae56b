/**
 * Typed access to a query string (or path parameters) the route's schema has already validated
 * (openapi-schemas.ts): each helper converts one parameter with the primitives of shared/schemas/primitives.ts
 * and, where a handler passes a narrower bound than the schema, records a FieldError naming it, so the handler's
 * own checks (ranges across parameters) are answered together (400, VIGIL_ERR_VALIDATION).
 */
import { validationError, type FieldError } from '../../shared/errors.ts';
import {
  durationSchema,
  formatDuration,
  isUuid,
  parseDurationOrSeconds,
  parseIsoTime,
  PATTERN_RULES,
} from '../../shared/schemas/primitives.ts';

export class QueryParams {
  private readonly errors: FieldError[] = [];

  /** Unknown parameters never get here: the route's strict query schema refuses them by name. */
  constructor(private readonly query: Record<string, unknown>) {}

  private single(name: string): string | undefined {
    const value = this.query[name];
    if (value === undefined) return undefined;
    // The schema coerced it to the integer (or boolean) it asks for; the checks below read text.
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
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
    const ms = parseIsoTime(value);
    if (ms === null) {
      this.errors.push({
        field: name,
        message: `must be an ISO 8601 date-time with a zone, e.g. 2024-01-01T00:00:00Z, got ${JSON.stringify(value)}`,
      });
      return undefined;
    }
    return new Date(ms);
  }

  /** A duration (`30s`, `5m`, `1h30m`, `1d`, shared/schemas/primitives.ts) or a number of seconds; milliseconds. */
  duration(name: string, opts: { minMs: number; maxMs: number }): number | undefined {
    const value = this.single(name);
    if (value === undefined) return undefined;
    const ms = parseDurationOrSeconds(value);
    if (ms === null || ms < opts.minMs || ms > opts.maxMs) {
      const rule = PATTERN_RULES[durationSchema.pattern];
      const range = `from ${formatDuration(opts.minMs)} to ${formatDuration(opts.maxMs)}`;
      this.errors.push({ field: name, message: `${rule}, ${range}, got ${JSON.stringify(value)}` });
      return undefined;
    }
    return ms;
  }

  uuid(name: string): string | undefined {
    const value = this.single(name);
    if (value !== undefined && !isUuid(value)) {
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
