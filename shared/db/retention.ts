/**
 * Retention by dropping whole time partitions, never by DELETE: a partition goes once its upper bound is older
 * than the table's retention. DROP of a partition takes an ACCESS EXCLUSIVE lock on the parent for an instant; a
 * short lock_timeout keeps a long-running query from making the writer queue behind the DROP (the partition is
 * simply dropped on the next run instead). The timeout is SET LOCAL in each DROP's own transaction, so it ends with
 * that transaction whatever happens and never stays on a pooled connection.
 */
import type pg from 'pg';
import { listPartitions, type PartitionedTable } from './partitions.ts';
import { isLockNotAvailable } from './errors.ts';
import { inTransaction, quoteIdent, type Pool } from './pool.ts';
import { MS_PER_HOUR } from '../units.ts';

export interface RetentionResult {
  dropped: string[];
  /** Partitions past retention that could not be dropped this time (lock timeout); retried on the next run. */
  deferred: string[];
}

const DAY_MS = 86_400_000;

/** Drops the partitions of `table` whose whole range lies before now − retentionDays. */
export async function dropExpiredPartitions(
  db: pg.Pool,
  table: PartitionedTable,
  retentionDays: number,
  now = Date.now(),
  lockTimeoutMs = 2000,
): Promise<RetentionResult> {
  const cutoff = now - retentionDays * DAY_MS;
  const expired = (await listPartitions(db, table)).filter((p) => p.toMs <= cutoff);
  const result: RetentionResult = { dropped: [], deferred: [] };
  if (expired.length === 0) return result;
  const begin = `BEGIN; SET LOCAL lock_timeout = ${Math.max(1, Math.trunc(lockTimeoutMs))}`;
  for (const partition of expired) {
    // One transaction per DROP, as before: each partition's ACCESS EXCLUSIVE lock is held only for its own DROP.
    try {
      await inTransaction(db, (client) => client.query(`DROP TABLE IF EXISTS ${quoteIdent(partition.name)}`), {
        begin,
      });
      result.dropped.push(partition.name);
    } catch (error) {
      if (!isLockNotAvailable(error)) throw error;
      result.deferred.push(partition.name);
    }
  }
  return result;
}

const ID_CLAIMS_PER_DELETE = 50_000;

/**
 * Deletes the claims of producer-chosen ids (ingest_ids, migration 0012) older than the idempotency window, in
 * bounded statements so that no single DELETE holds locks or WAL for a day's claims at once. Returns how many.
 */
export async function deleteExpiredIdClaims(pool: Pool, windowHours: number, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - windowHours * MS_PER_HOUR);
  let deleted = 0;
  for (;;) {
    const result = await pool.query(
      `DELETE FROM ingest_ids
        WHERE ctid = ANY(ARRAY(SELECT ctid FROM ingest_ids WHERE stored_at < $1 LIMIT ${ID_CLAIMS_PER_DELETE}))`,
      [cutoff],
    );
    deleted += result.rowCount ?? 0;
    if ((result.rowCount ?? 0) < ID_CLAIMS_PER_DELETE) return deleted;
  }
}
