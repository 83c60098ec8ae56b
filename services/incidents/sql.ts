/**
 * PostgreSQL plumbing of the incidents module: transactions, and pg failures turned into the domain errors of
 * shared/errors.ts (retriable → 503; the statement timeout → 504 VIGIL_ERR_QUERY_TIMEOUT). Every value is bound.
 */
import { databaseError, isQueryCanceled } from '../../shared/db/errors.ts';
import pg from 'pg';
import { inTransaction as transaction, type Pool, type PoolClient } from '../../shared/db/pool.ts';
import { VigilError } from '../../shared/errors.ts';

export type Queryable = Pool | PoolClient;

export function translate(error: unknown): Error {
  if (error instanceof VigilError) return error;
  if (isQueryCanceled(error)) {
    return new VigilError(
      'VIGIL_ERR_QUERY_TIMEOUT',
      'the query ran longer than QUERY_STATEMENT_TIMEOUT_MS and was cancelled; try again with a smaller page',
    );
  }
  return databaseError(error);
}

export async function rows<R extends object>(db: Queryable, sql: string, values: unknown[] = []): Promise<R[]> {
  try {
    return (await db.query<R>(sql, values)).rows;
  } catch (error) {
    throw translate(error);
  }
}

/** One transaction on a client of `db`, or on `db` itself when it is a client already checked out. */
export async function inTransaction<T>(db: Queryable, work: (client: PoolClient) => Promise<T>): Promise<T> {
  try {
    return await transaction(db, work);
  } catch (error) {
    throw translate(error);
  }
}

/**
 * Independent reads: side by side on a pool (each on its own connection), one after another on a client (a
 * connection runs one query at a time; pg deprecates queueing them on it).
 */
export async function sideBySide<T extends unknown[]>(
  db: Queryable,
  ...reads: { [K in keyof T]: () => Promise<T[K]> }
): Promise<T> {
  if (db instanceof pg.Pool) return (await Promise.all(reads.map((read) => read()))) as T;
  const results: unknown[] = [];
  for (const read of reads) results.push(await read());
  return results as T;
}
