/**
 * Query-string parsing shared by the query routes: each helper validates one parameter and records a FieldError
 * naming it, so a bad request is answered with every problem at once (400, VIGIL_ERR_VALIDATION).
 */
import { validationError, type FieldError } from '../../shared/errors.ts';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

export class QueryParams {
  private readonly errors: FieldError[] = [];

  constructor(private readonly query: Record<string, unknown>, known: readonly string[]) {
    for (const name of Object.keys(query)) {
      if (!known.includes(name)) this.errors.push({ field: name, message: `is not a known parameter (known: ${known.join(', ')})` });
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

  string(name: string, maxLength = 255): string | undefined {
    const value = this.single(name);
    if (value !== undefined && (value === '' || value.length > maxLength || value.includes('\u0000'))) {
      this.errors.push({ field: name, message: `must be a non-empty string of at most ${maxLength} characters` });
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
      this.errors.push({ field: name, message: `must be an integer from ${opts.min} to ${opts.max}, got ${JSON.stringify(value)}` });
      return opts.default;
    }
    return n;
  }

  time(name: string): Date | undefined {
    const value = this.single(name);
    if (value === undefined) return undefined;
    const ms = ISO_DATE_TIME.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(ms)) {
      this.errors.push({ field: name, message: `must be an ISO 8601 date-time with a zone, e.g. 2024-01-01T00:00:00Z, got ${JSON.stringify(value)}` });
      return undefined;
    }
    return new Date(ms);
  }

  fail(field: string, message: string): void {
    this.errors.push({ field, message });
  }

  /** Throws the collected errors, if any. */
  done(): void {
    if (this.errors.length > 0) throw validationError(this.errors);
  }
}
