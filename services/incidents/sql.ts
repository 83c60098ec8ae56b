/**
 * PostgreSQL plumbing of the incidents module: transactions, and pg failures turned into the domain errors of
 * shared/errors.ts (retriable → 503; the statement timeout → 504 VIGIL_ERR_QUERY_TIMEOUT). Every value is bound.
 */
import { databaseError, isQueryCanceled } from '../../shared/db/errors.ts';
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
