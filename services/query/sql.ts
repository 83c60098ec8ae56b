/**
 * The query routes' SQL plumbing: every value is a bound parameter (no string concatenation of input), and
 * pg failures become the domain errors of shared/errors.ts: retriable → 503, the statement timeout → 503 naming it.
 */
import type { Pool } from '../../shared/db/pool.ts';
import { databaseError, sqlState } from '../../shared/db/pool.ts';
import { VigilError } from '../../shared/errors.ts';

/** Collects WHERE clauses with numbered placeholders: `where.add('source = ?', value)`. */
export class Where {
  readonly values: unknown[] = [];
  private readonly clauses: string[] = [];

  /** Binds each `?` in `sql` to the next value, in order. */
  add(sql: string, ...values: unknown[]): this {
    let i = 0;
    this.clauses.push(sql.replace(/\?/g, () => this.param(values[i++])));
    return this;
  }

  /** A placeholder for `value`, for use outside WHERE (LIMIT, SELECT list). */
  param(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  toString(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
}

/** `%value%` for ILIKE, with the pattern characters of the value escaped. */
export function containsPattern(value: string): string {
  return `%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export async function run<R extends object>(pool: Pool, sql: string, values: unknown[] = []): Promise<R[]> {
  try {
    const { rows } = await pool.query<R>(sql, values);
    return rows;
  } catch (error) {
    if (sqlState(error) === '57014') {
      throw new VigilError(
        'VIGIL_ERR_QUERY_TIMEOUT',
        'the query ran longer than QUERY_STATEMENT_TIMEOUT_MS and was cancelled; narrow the time range or add filters (source, name)',
      );
    }
    throw databaseError(error);
  }
}
