/**
 * One maintenance pass: partitions created ahead for every partitioned table, then partitions past retention
 * dropped (events after MONITORING_EVENT_RETENTION_DAYS, metrics after MONITORING_METRIC_RETENTION_DAYS, rollups
 * and their day totals after the longer of the two), audit log rows older than AUDIT_RETENTION_DAYS deleted (that
 * table is small and not partitioned: bounded DELETEs by its `at` index), series registrations older than the
 * metric retention deleted (services/writer/series-limit.ts), and the claims of producer-chosen ids deleted after
 * INGEST_IDEMPOTENCY_WINDOW_HOURS. Only the instance holding the advisory lock runs a pass, so any number of
 * maintenance instances may be deployed and exactly one works at a time.
 */
import type { Config } from '../../shared/config.ts';
import { ensureAllPartitions, listPartitions, type PartitionedTable } from '../../shared/db/partitions.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { deleteExpiredIdClaims, dropExpiredPartitions } from '../../shared/db/retention.ts';

const LOCK_KEY = 0x76_69_6d_74; // 'vimt', distinct from the migration lock
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Rows per audit DELETE statement: each is short, so it never holds locks or a long transaction. */
const AUDIT_DELETE_BATCH_ROWS = 10_000;

export interface MaintenanceReport {
  /** False when another instance held the lock and this pass did nothing. */
  ran: boolean;
  created: string[];
  dropped: string[];
  deferred: string[];
  /** Audit log rows deleted past retention. */
  auditRowsDeleted: number;
  /** Claims of producer-chosen ids deleted because they are older than the idempotency window. */
  expiredIdClaims: number;
}

export function retentionDaysOf(table: PartitionedTable, storage: Config['storage']): number {
  if (table === 'events') return storage.eventRetentionDays;
  if (table === 'metrics') return storage.metricRetentionDays;
  return Math.max(storage.eventRetentionDays, storage.metricRetentionDays);
}

/**
 * The day totals (ingest_totals) of the days whose rollups partition is gone, so that /stats' all-time totals and
 * the rollups always cover the same days (a partition whose DROP was deferred keeps its day's totals too).
 */
async function dropExpiredTotals(pool: Pool, cutoffMs: number): Promise<void> {
  const kept = (await listPartitions(pool, 'rollups')).map((p) => new Date(p.fromMs).toISOString().slice(0, 10));
  await pool.query(
    `DELETE FROM ingest_totals WHERE (day + 1)::timestamp AT TIME ZONE 'UTC' <= $1 AND NOT (day = ANY($2::date[]))`,
    [new Date(cutoffMs), kept],
  );
}

/** Deletes audit_log rows older than the cutoff, in batches; returns how many. */
export async function deleteExpiredAudit(pool: Pool, cutoffMs: number): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await pool.query(
      'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)',
      [new Date(cutoffMs), AUDIT_DELETE_BATCH_ROWS],
    );
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < AUDIT_DELETE_BATCH_ROWS) return deleted;
  }
}

export async function runMaintenance(
  pool: Pool,
  config: Pick<Config, 'storage' | 'audit'>,
  now = Date.now(),
): Promise<MaintenanceReport> {
  const { storage } = config;
  const report: MaintenanceReport = {
    ran: false,
    created: [],
    dropped: [],
    deferred: [],
    auditRowsDeleted: 0,
    expiredIdClaims: 0,
  };
  const lock = await pool.connect();
  let broken: Error | undefined;
  try {
    const { rows } = await lock.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [LOCK_KEY]);
    if (!rows[0].locked) return report;
    report.ran = true;
    try {
      // From an hour back (a record just arrived for the current bucket) to the configured horizon.
      report.created = await ensureAllPartitions(
        pool,
        storage.granularity,
        now - HOUR_MS,
        now + storage.createAheadHours * HOUR_MS,
      );
      for (const table of ['events', 'metrics', 'rollups'] as const) {
        const result = await dropExpiredPartitions(pool, table, retentionDaysOf(table, storage), now);
        report.dropped.push(...result.dropped);
        report.deferred.push(...result.deferred);
      }
      await dropExpiredTotals(pool, now - retentionDaysOf('rollups', storage) * DAY_MS);
      report.auditRowsDeleted = await deleteExpiredAudit(pool, now - config.audit.retentionDays * DAY_MS);
      // Series registered for METRICS_MAX_SERIES_PER_NAME longer ago than the metric retention: a series still
      // sending registers again with its next sample, one that stopped frees its slot.
      await pool.query(
        `WITH gone AS (DELETE FROM metric_series_registry WHERE first_seen < $1 RETURNING name)
         UPDATE metric_series_counts c SET series = c.series - g.n FROM (SELECT name, count(*) AS n FROM gone GROUP BY
           name) g WHERE c.name = g.name`,
        [new Date(now - storage.metricRetentionDays * DAY_MS)],
      );
      report.expiredIdClaims = await deleteExpiredIdClaims(pool, storage.idempotencyWindowHours, now);
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
    }
    return report;
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    lock.release(broken);
  }
}
