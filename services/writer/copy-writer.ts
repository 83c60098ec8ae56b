/**
 * COPY of a batch of rows already in binary COPY format (copy-format.ts: one buffer per batch, a row being a byte
 * range of it) inside the caller's transaction, with two fallbacks that keep the fast path free of per-row work:
 *  - a unique violation (a client retried a record with the same id and timestamp) re-runs that chunk through a
 *    temporary staging table and INSERT … ON CONFLICT DO NOTHING RETURNING the keys it stored, so the record is
 *    stored once and the caller learns which rows were duplicates (they must not be counted in rollups again);
 *  - any other error about a row's content (shared/db/errors.ts: a value its column refuses, a violated
 *    constraint) splits the chunk in halves under savepoints until the offending rows are isolated; those are
 *    returned (for the dead-letter queue) and every other row is stored.
 * Everything else propagates, and the caller rolls back and retries the whole batch: a missing time partition (the
 * caller creates it), and every condition of the server rather than of a row — connection lost, read-only
 * database, a missing grant, a full disk — or a bug, none of which a row may be dead-lettered for.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { isMissingPartition, isRecordError, isUniqueViolation } from '../../shared/db/errors.ts';
import { quoteIdent, type PoolClient } from '../../shared/db/pool.ts';
import { COPY_HEADER, COPY_TRAILER, type CopyRows } from './copy-format.ts';

/** A row: the byte range [start, end) of its batch's CopyRows. */
export interface CopyRow {
  start: number;
  end: number;
}

/** A row's primary key (timestamp, id) as `<epoch ms>|<id>` (rowKey), asked for only when duplicates must be told. */
export type KeyOf<T extends CopyRow> = (row: T) => string;

export interface RejectedRow<T extends CopyRow> {
  row: T;
  error: Error;
}

export interface CopyOutcome<T extends CopyRow> {
  rejected: RejectedRow<T>[];
  /** Rows not stored because a row with the same key already existed (or came earlier in the batch). */
  duplicates: T[];
}

export interface CopyTarget {
  table: string;
  columns: string;
}

export class MissingPartitionError extends Error {
  constructor(table: string, cause: Error) {
    super(`a row of ${table} has no time partition: ${cause.message}`);
    this.name = 'MissingPartitionError';
  }
}

export function rowKey(timestampMs: number, id: string): string {
  return `${timestampMs}|${id}`;
}

export async function copyText(client: PoolClient, table: string, columns: string, text: string): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${quoteIdent(table)} (${columns}) FROM STDIN`));
  await pipeline(Readable.from([text]), stream);
}

/** COPY … (FORMAT binary) of `body`: rows of copy-format.ts, without header and trailer. */
export async function copyBinary(client: PoolClient, table: string, columns: string, body: Buffer): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${quoteIdent(table)} (${columns}) FROM STDIN (FORMAT binary)`));
  await pipeline(Readable.from([COPY_HEADER, body, COPY_TRAILER]), stream);
}

export async function copyIsolating<T extends CopyRow>(
  client: PoolClient,
  target: CopyTarget,
  batch: CopyRows,
  rows: T[],
  keyOf: KeyOf<T>,
): Promise<CopyOutcome<T>> {
  const outcome: CopyOutcome<T> = { rejected: [], duplicates: [] };
  await copyChunk(client, target, batch, rows, outcome, keyOf);
  return outcome;
}

async function copyChunk<T extends CopyRow>(
  client: PoolClient,
  target: CopyTarget,
  batch: CopyRows,
  rows: T[],
  outcome: CopyOutcome<T>,
  keyOf: KeyOf<T>,
): Promise<void> {
  if (rows.length === 0) return;
  await client.query('SAVEPOINT vigil_copy');
  try {
    await copyBinary(client, target.table, target.columns, batch.slice(rows));
    await client.query('RELEASE SAVEPOINT vigil_copy');
    return;
  } catch (error) {
    if (!isRecordError(error)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT vigil_copy');
    if (isMissingPartition(error)) throw new MissingPartitionError(target.table, error as Error);
    if (isUniqueViolation(error)) return insertIgnoringDuplicates(client, target, batch, rows, outcome, keyOf);
    if (rows.length === 1) {
      outcome.rejected.push({ row: rows[0], error: error as Error });
      return;
    }
    const middle = rows.length >> 1;
    await copyChunk(client, target, batch, rows.slice(0, middle), outcome, keyOf);
    await copyChunk(client, target, batch, rows.slice(middle), outcome, keyOf);
  }
}

async function insertIgnoringDuplicates<T extends CopyRow>(
  client: PoolClient,
  target: CopyTarget,
  batch: CopyRows,
  rows: T[],
  outcome: CopyOutcome<T>,
  keyOf: KeyOf<T>,
): Promise<void> {
  const staging = quoteIdent(`vigil_staging_${target.table}`);
  await client.query(
    `CREATE TEMP TABLE IF NOT EXISTS ${staging} (LIKE ${quoteIdent(target.table)} INCLUDING DEFAULTS) ON COMMIT ` +
      `DELETE ROWS`,
  );
  await client.query('SAVEPOINT vigil_staging');
  try {
    await copyBinary(client, `vigil_staging_${target.table}`, target.columns, batch.slice(rows));
    const { rows: stored } = await client.query<{ id: string; ms: string }>(
      `INSERT INTO ${quoteIdent(target.table)} (${target.columns}) SELECT ${target.columns} FROM ${staging}
       ON CONFLICT DO NOTHING RETURNING id, (extract(epoch FROM "timestamp") * 1000)::bigint AS ms`,
    );
    await client.query(`TRUNCATE ${staging}`);
    await client.query('RELEASE SAVEPOINT vigil_staging');
    const inserted = new Map<string, number>();
    for (const r of stored) {
      const key = rowKey(Number(r.ms), r.id);
      inserted.set(key, (inserted.get(key) ?? 0) + 1);
    }
    for (const row of rows) {
      const key = keyOf(row);
      const left = inserted.get(key) ?? 0;
      if (left > 0) inserted.set(key, left - 1);
      else outcome.duplicates.push(row);
    }
  } catch (error) {
    if (!isRecordError(error)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT vigil_staging');
    if (isMissingPartition(error)) throw new MissingPartitionError(target.table, error as Error);
    if (rows.length === 1) {
      outcome.rejected.push({ row: rows[0], error: error as Error });
      return;
    }
    const middle = rows.length >> 1;
    await insertIgnoringDuplicates(client, target, batch, rows.slice(0, middle), outcome, keyOf);
    await insertIgnoringDuplicates(client, target, batch, rows.slice(middle), outcome, keyOf);
  }
}
