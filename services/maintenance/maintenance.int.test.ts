/**
 * Retention drops whole partitions once their range lies entirely beyond retention (events 30 days, metrics 90,
 * rollups the longer of the two), keeps every partition that still holds data inside it, and creates partitions
 * ahead; only the holder of the advisory lock does any of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPartitions,
  listPartitions,
  partitionName,
  bucketStart,
  type PartitionedTable,
} from '../../shared/db/partitions.ts';
import { countRows, createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { runMaintenance } from './maintenance.ts';

const DAY = 86_400_000;

describe('maintenance', () => {
  let ctx: TestContext;
  const now = Date.now();
  const today = bucketStart(now, 'day');
  const day = (offset: number) => today + offset * DAY;

  beforeAll(async () => {
    ctx = await createTestContext({
      PARTITION_GRANULARITY: 'day',
      MONITORING_EVENT_RETENTION_DAYS: '30',
      MONITORING_METRIC_RETENTION_DAYS: '90',
      PARTITION_CREATE_AHEAD_HOURS: '48',
      AUDIT_RETENTION_DAYS: '90',
    });
  });
  afterAll(() => ctx?.cleanup());

  async function seed(table: PartitionedTable, offsets: number[]): Promise<void> {
    await createPartitions(ctx.db, table, 'day', offsets.map(day));
    for (const offset of offsets) {
      const ts = new Date(day(offset) + 3_600_000).toISOString();
      if (table === 'events')
        await ctx.db.query(
          `INSERT INTO events (id, "timestamp", event_type, source) VALUES (gen_random_uuid(), $1, 'log', 'seed')`,
          [ts],
        );
      if (table === 'metrics')
        await ctx.db.query(
          `INSERT INTO metrics (id, "timestamp", name, metric_type, value) VALUES (gen_random_uuid(), $1, 'm', ` +
            `'gauge', 1)`,
          [ts],
        );
      if (table === 'rollups')
        await ctx.db.query(
          `INSERT INTO rollups (bucket, kind, event_type, source, count) VALUES ($1, 'event', 'log', 'seed', 1)`,
          [ts],
        );
    }
  }

  const names = async (table: PartitionedTable) => (await listPartitions(ctx.db, table)).map((p) => p.name);

  it('drops partitions past retention, keeps current ones and their rows, creates partitions ahead', async () => {
    // Day -31 ends 30 days ago at the latest: entirely past a 30-day retention. Day -30 still holds in-retention time.
    await seed('events', [-40, -31, -30, -1, 0]);
    await seed('metrics', [-100, -91, -90, -40, 0]);
    await seed('rollups', [-100, -91, -90, -40, 0]);
    for (const offset of [-100, -91, -90, -40, 0]) {
      await ctx.db.query(
        `INSERT INTO ingest_totals (day, kind, partition, count) VALUES (($1::timestamptz AT TIME ZONE 'UTC')::date, ` +
          `'event', 0, 1)`,
        [new Date(day(offset))],
      );
    }

    // Claims of producer-chosen ids: past the 24 h window (deleted) and within it (kept).
    await ctx.db.query(
      `INSERT INTO ingest_ids (kind, id, stored_at) VALUES ('event', gen_random_uuid(), $1), ('metric', ` +
        `gen_random_uuid(), $1), ('event', gen_random_uuid(), $2)`,
      [new Date(now - 25 * 3_600_000), new Date(now - 23 * 3_600_000)],
    );

    // Another instance holds the lock: this one does nothing.
    const other = await ctx.db.connect();
    await other.query('SELECT pg_advisory_lock($1)', [0x76_69_6d_74]);
    const skipped = await runMaintenance(ctx.db, ctx.config, now);
    expect(skipped).toEqual({
      ran: false,
      created: [],
      dropped: [],
      deferred: [],
      auditRowsDeleted: 0,
      expiredIdClaims: 0,
    });
    await other.query('SELECT pg_advisory_unlock($1)', [0x76_69_6d_74]);
    other.release();

    const report = await runMaintenance(ctx.db, ctx.config, now);
    expect(report.ran).toBe(true);
    expect(report.deferred).toEqual([]);
    expect(report.expiredIdClaims).toBe(2);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM ingest_ids')).toBe(1);
    const p = (table: string, offset: number) => partitionName(table, day(offset), 'day');
    expect(report.dropped.sort()).toEqual(
      [
        p('events', -40),
        p('events', -31),
        p('metrics', -100),
        p('metrics', -91),
        p('rollups', -100),
        p('rollups', -91),
      ].sort(),
    );
    // Ahead: through now + 48 h for every table.
    for (const table of ['events', 'metrics', 'rollups'] as const) {
      for (const offset of [1, 2]) expect(await names(table)).toContain(p(table, offset));
    }
    expect(report.created).toContain(p('events', 2));

    // Partitions are created from an hour before now: in the first hour of a day, yesterday's is created too.
    const behind = (table: string) =>
      partitionName(table, Math.floor((now - 3_600_000) / 86_400_000) * 86_400_000, 'day');
    const past = (table: string, kept: string[]) =>
      [...new Set([...kept, ...(behind(table) < p(table, 0) ? [behind(table)] : [])])].sort();
    expect((await names('events')).filter((n) => n < p('events', 0))).toEqual(
      past('events', [p('events', -30), p('events', -1)]),
    );
    expect((await names('metrics')).filter((n) => n < p('metrics', 0))).toEqual(
      past('metrics', [p('metrics', -90), p('metrics', -40)]),
    );
    expect((await names('rollups')).filter((n) => n < p('rollups', 0))).toEqual(
      past('rollups', [p('rollups', -90), p('rollups', -40)]),
    );
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events')).toBe(3);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM metrics')).toBe(3);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM rollups')).toBe(3);
    const { rows: totals } = await ctx.db.query(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day FROM ingest_totals ORDER BY day`,
    );
    expect(totals.map((r) => r.day)).toEqual([-90, -40, 0].map((o) => new Date(day(o)).toISOString().slice(0, 10)));

    // A second pass finds nothing to do.
    expect(await runMaintenance(ctx.db, ctx.config, now)).toEqual({
      ran: true,
      created: [],
      dropped: [],
      deferred: [],
      auditRowsDeleted: 0,
      expiredIdClaims: 0,
    });
  });

  it('deletes audit log rows older than AUDIT_RETENTION_DAYS, keeps the others', async () => {
    const insert = (ageDays: number, action: string) =>
      ctx.db.query(`INSERT INTO audit_log (at, last_at, action, actor, target) VALUES ($1, $1, $2, 'alice', 'x')`, [
        new Date(now - ageDays * DAY),
        action,
      ]);
    await insert(200, 'incident.create');
    await insert(91, 'incident.update');
    await insert(89, 'alert_rule.create');
    await insert(0, 'alert_rule.delete');
    const report = await runMaintenance(ctx.db, ctx.config, now);
    expect(report.auditRowsDeleted).toBe(2);
    const { rows } = await ctx.db.query('SELECT action FROM audit_log ORDER BY at');
    expect(rows.map((r) => r.action)).toEqual(['alert_rule.create', 'alert_rule.delete']);
    expect((await runMaintenance(ctx.db, ctx.config, now)).auditRowsDeleted).toBe(0);
  });

  it('expires series registrations (METRICS_MAX_SERIES_PER_NAME) older than the metric retention', async () => {
    const days = ctx.config.storage.metricRetentionDays;
    await ctx.db.query(
      `INSERT INTO metric_series_registry (name, fingerprint, first_seen)
       VALUES ('old_total', 'a', now() - make_interval(days => $1::int + 1)), ('new_total', 'b', now() -
         make_interval(days => $1::int - 1))`,
      [days],
    );
    await ctx.db.query("INSERT INTO metric_series_counts (name, series) VALUES ('old_total', 1), ('new_total', 1)");
    await runMaintenance(ctx.db, ctx.config);
    const { rows } = await ctx.db.query('SELECT name FROM metric_series_registry');
    expect(rows).toEqual([{ name: 'new_total' }]);
    const counts = await ctx.db.query('SELECT name, series::int FROM metric_series_counts ORDER BY name');
    expect(counts.rows).toEqual([
      { name: 'new_total', series: 1 },
      { name: 'old_total', series: 0 },
    ]);
  });

  it('runs as a role at start and reports its passes', async () => {
    await seed('events', [-45]);
    const runtime = await ctx.start('maintenance');
    expect(await names('events')).not.toContain(partitionName('events', day(-45), 'day'));
    const runs = await runtime.registry.getSingleMetric('vigil_maintenance_runs_total')!.get();
    expect(runs.values.map((v) => [v.labels.outcome, v.value])).toEqual([['ran', 1]]);
    const dropped = await runtime.registry.getSingleMetric('vigil_maintenance_partitions_dropped_total')!.get();
    expect(dropped.values[0].value).toBe(1);
    await runtime.stop();
  });
});
