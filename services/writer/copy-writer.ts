/**
 * COPY of a batch of preformatted rows inside the caller's transaction, with two fallbacks that keep the fast path
 * free of per-row work:
 *  - a unique violation (a client retried a record with the same id and timestamp) re-runs that chunk through a
 *    temporary staging table and INSERT … ON CONFLICT DO NOTHING, so the record is stored once;
 *  - any other non-retriable error splits the chunk in halves under savepoints until the offending rows are
 *    isolated; those are returned (for the dead-letter queue) and every other row is stored.
 * Retriable errors (connection loss, shutdown) propagate: the caller rolls back and retries the whole batch.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { isRetriablePgError, quoteIdent, sqlState, type PoolClient } from '../../shared/db/pool.ts';

export interface CopyRow<T> {
  text: string;
  item: T;
}

export interface RejectedRow<T> {
  row: CopyRow<T>;
  error: Error;
}

export interface CopyTarget {
  table: string;
  columns: string;
}

export async function copyText(client: PoolClient, table: string, columns: string, text: string): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${quoteIdent(table)} (${columns}) FROM STDIN`));
  await pipeline(Readable.from([text]), stream);
}

export async function copyIsolating<T>(client: PoolClient, target: CopyTarget, rows: CopyRow<T>[]): Promise<RejectedRow<T>[]> {
  if (rows.length === 0) return [];
  await client.query('SAVEPOINT vigil_copy');
  try {
    await copyText(client, target.table, target.columns, joinRows(rows));
    await client.query('RELEASE SAVEPOINT vigil_copy');
    return [];
  } catch (error) {
    if (isRetriablePgError(error)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT vigil_copy');
    if (sqlState(error) === '23505') return insertIgnoringDuplicates(client, target, rows);
    if (rows.length === 1) return [{ row: rows[0], error: error as Error }];
    const middle = rows.length >> 1;
    const left = await copyIsolating(client, target, rows.slice(0, middle));
    const right = await copyIsolating(client, target, rows.slice(middle));
    return [...left, ...right];
  }
}

async function insertIgnoringDuplicates<T>(client: PoolClient, target: CopyTarget, rows: CopyRow<T>[]): Promise<RejectedRow<T>[]> {
  const staging = quoteIdent(`vigil_staging_${target.table}`);
  await client.query(
    `CREATE TEMP TABLE IF NOT EXISTS ${staging} (LIKE ${quoteIdent(target.table)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
  );
  await client.query('SAVEPOINT vigil_staging');
  try {
    await copyText(client, `vigil_staging_${target.table}`, target.columns, joinRows(rows));
    await client.query(
      `INSERT INTO ${quoteIdent(target.table)} (${target.columns}) SELECT ${target.columns} FROM ${staging} ON CONFLICT DO NOTHING`,
    );
    await client.query(`TRUNCATE ${staging}`);
    await client.query('RELEASE SAVEPOINT vigil_staging');
    return [];
  } catch (error) {
    if (isRetriablePgError(error)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT vigil_staging');
    if (rows.length === 1) return [{ row: rows[0], error: error as Error }];
    const middle = rows.length >> 1;
    return [
      ...(await insertIgnoringDuplicates(client, target, rows.slice(0, middle))),
      ...(await insertIgnoringDuplicates(client, target, rows.slice(middle))),
    ];
  }
}

function joinRows<T>(rows: CopyRow<T>[]): string {
  let text = '';
  for (const row of rows) text += row.text;
  return text;
}
