/**
 * The query routes' SQL plumbing: every value is a bound parameter (no string concatenation of input), and
 * pg failures become the domain errors of shared/errors.ts: retriable → 503, the statement timeout → 503 naming it.
 */
import { databaseError, isQueryCanceled } from '../../shared/db/errors.ts';
import { inTransaction, type Pool } from '../../shared/db/pool.ts';
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

/**
 * Planner settings for one statement (SET LOCAL in its own transaction). The one in use: `enable_sort: 'off'` for
 * newest-first listings, whose filters on tags and message text the planner cannot estimate (it assumes 0.5% per
 * tag, so two tags look like a few dozen rows of a day and it picks a scan of the whole range plus a sort, 150 ms
 * and up on a 1.4M-row day, where walking the (timestamp, id) or (source, timestamp) index newest first stops
 * after the page: ~1–3 ms). Every listing has such an ordered path, so turning sorts off only tips the choice.
 * `work_mem` for statements that group a known, bounded number of rows (PromQL loading, promql-data.ts); `jit`
 * off where a generic estimate would compile a statement that reads few rows (PromQL's per-minute loading).
 */
export type PlannerSettings = Partial<Record<'enable_sort' | 'jit', 'on' | 'off'> & Record<'work_mem', `${number}MB`>>;

export async function run<R extends object>(
  pool: Pool,
  sql: string,
  values: unknown[] = [],
  settings?: PlannerSettings,
): Promise<R[]> {
  try {
    if (!settings) return (await pool.query<R>(sql, values)).rows;
    const begin = `BEGIN; ${Object.entries(settings)
      .map(([name, value]) => `SET LOCAL ${name} = '${value}'`)
      .join('; ')}`;
    return await inTransaction(pool, async (client) => (await client.query<R>(sql, values)).rows, {
      begin,
    });
  } catch (error) {
    if (isQueryCanceled(error)) {
      throw new VigilError(
        'VIGIL_ERR_QUERY_TIMEOUT',
        'the query ran longer than QUERY_STATEMENT_TIMEOUT_MS and was cancelled; narrow the time range or add ' +
          'filters (source, name)',
      );
    }
    throw databaseError(error);
  }
}
