/**
 * A database that refuses every write is an outage, not poison (a PRIVATE cluster on its own port): made read-only
 * (default_transaction_read_only, as after a failover to a standby) or with INSERT on events revoked from the
 * writer's role while events arrive, the writer pauses — nothing in the DLQ, no offset moves, /readyz says why —
 * and once the database accepts writes again every acknowledged event is stored exactly once. A dead letter produced
 * before the failing statement of a batch is not produced again on each retry. A schema the code does not match (a
 * bug, not the records' fault) pauses the same way.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Partitioners } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionString, startCluster, stopCluster, type ClusterOptions } from '../../infra/postgres/cluster.ts';
import { ensureAllPartitions } from '../../shared/db/partitions.ts';
import { countRows, createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import type { Runtime } from '../../bin/runtime.ts';

const PER_PHASE = 600;
const DAY_MS = 86_400_000;
const READ_ONLY = 'PostgreSQL refuses writes: the database is read-only (a standby, or default_transaction_read_only)';
const NO_GRANT = "PostgreSQL denies the writer's role a privilege it needs (a missing GRANT)";
const UNEXPECTED = 'a batch failed with an unexpected error';

describe('PostgreSQL refuses writes', () => {
  const cluster: ClusterOptions = {
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-fault-pg-')),
    port: 25_000 + crypto.randomInt(5000),
    log: () => {},
  };
  /** Superuser on the cluster's `postgres` database: never affected by the settings of the test databases. */
  let admin: pg.Client;
  const contexts: TestContext[] = [];

  beforeAll(async () => {
    fs.chmodSync(cluster.dir, 0o755);
    await startCluster(cluster);
    admin = new pg.Client({ connectionString: connectionString(cluster) });
    await admin.connect();
  });
  afterAll(async () => {
    for (const ctx of contexts) await ctx.cleanup().catch(() => {});
    await admin?.end().catch(() => {});
    await stopCluster(cluster, 'immediate').catch(() => {});
    fs.rmSync(cluster.dir, { recursive: true, force: true });
  });

  async function setUp(database: string): Promise<TestContext> {
    const url = connectionString(cluster, database);
    const ctx = await createTestContext({ DATABASE_URL: url, WRITER_BATCH_MAX_ROWS: '200' });
    contexts.push(ctx);
    return ctx;
  }

  /** PER_PHASE acknowledged events labelled `label`, and `malformed` records that can only be dead-lettered. */
  async function produce(ctx: TestContext, label: string, malformed = 0): Promise<void> {
    const producer = ctx.kafkajs.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const messages = Array.from({ length: PER_PHASE }, (_, i) => {
        const source = `svc-${i % 12}`;
        const event = { event_type: 'log', source, level: 'info', message: `${label} ${i}` };
        return { key: source, value: JSON.stringify(event) };
      });
      // In the middle of svc-0's records: in a batch with rows, not alone in one.
      for (let i = 0; i < malformed; i++) messages.splice(PER_PHASE / 2, 0, { key: 'svc-0', value: '{"event_type": ' });
      await producer.send({ topic: ctx.config.kafka.topics.events, acks: -1, messages });
    } finally {
      await producer.disconnect();
    }
  }

  const stored = (ctx: TestContext) => countRows(ctx.db, 'SELECT count(*) AS n FROM events');
  const offsets = async (ctx: TestContext) => {
    const sql = 'SELECT partition, next_offset FROM consumer_offsets WHERE topic = $1 ORDER BY partition';
    return (await ctx.db.query<{ partition: number; next_offset: string }>(sql, [ctx.config.kafka.topics.events])).rows;
  };
  const offsetSum = (rows: { next_offset: string }[]) => rows.reduce((sum, r) => sum + Number(r.next_offset), 0);
  const readyz = async (writer: Runtime) => {
    const res = await writer.app.inject({ method: 'GET', url: '/readyz' });
    return { status: res.statusCode, body: res.json() };
  };
  const retries = async (writer: Runtime, kind: string) => {
    const metric = await writer.registry.getSingleMetric('vigil_writer_retries_total')!.get();
    return metric.values.find((v) => v.labels.kind === kind)?.value ?? 0;
  };
  async function dlqRecords(ctx: TestContext): Promise<number> {
    const kafkaAdmin = ctx.kafkajs.admin();
    await kafkaAdmin.connect();
    try {
      const partitions = await kafkaAdmin.fetchTopicOffsets(ctx.config.kafka.topics.dlq);
      return partitions.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    } finally {
      await kafkaAdmin.disconnect();
    }
  }
  /** Sessions read database settings when they start: end the writer's so that its next ones see the change. */
  const terminateWriterSessions = (database: string) =>
    admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'vigil-writer'",
      [database],
    );

  interface Expected {
    /** Rows in events and dead letters in the DLQ topic. */
    stored: number;
    dlq: number;
  }

  /** Writes stopped and applied; the consumer's offsets and the stored totals agree before the outage starts. */
  async function settled(ctx: TestContext, expected: Expected & { offsets: number }) {
    await waitFor(
      () => stored(ctx),
      (n) => n >= expected.stored,
      60_000,
    );
    return waitFor(
      () => offsets(ctx),
      (rows) => offsetSum(rows) === expected.offsets,
    );
  }

  /** The outage: the writer pauses on `reason`, retries with backoff, and nothing moves while it lasts. */
  async function expectPaused(
    ctx: TestContext,
    writer: Runtime,
    outage: { reason: string; kind: string; offsets: unknown },
    expected: Expected,
  ): Promise<void> {
    const sentence = outage.reason.replace(/[()]/g, '\\$&');
    const paused = new RegExp(`^paused on [1-3] partitions?, retrying with backoff: ${sentence}$`);
    const isPaused = (r: { status: number; body: { checks: { writer: string } } }) =>
      r.status === 503 && paused.test(r.body.checks.writer);
    const ready = await waitFor(() => readyz(writer), isPaused, 60_000);
    const checks = { postgres: 'ok', kafka: 'ok', writer: expect.stringMatching(paused) };
    expect(ready.body).toEqual({ status: 'not ready', checks });
    const attempts = await retries(writer, outage.kind);
    await waitFor(
      () => retries(writer, outage.kind),
      (n) => n >= attempts + 3,
      60_000,
    );
    expect(await offsets(ctx)).toEqual(outage.offsets);
    expect(await stored(ctx)).toBe(expected.stored);
    expect(await dlqRecords(ctx)).toBe(expected.dlq);
  }

  /** Once writes are accepted again: every acknowledged event exactly once, counters and offsets with them. */
  async function expectResumed(ctx: TestContext, writer: Runtime, expected: Expected & { offsets: number }) {
    await waitFor(
      () => stored(ctx),
      (n) => n >= expected.stored,
      60_000,
    );
    const ready = await waitFor(
      () => readyz(writer),
      (r) => r.status === 200,
      30_000,
    );
    expect(ready.body).toEqual({ status: 'ready', checks: { postgres: 'ok', kafka: 'ok', writer: 'ok' } });
    expect(await stored(ctx)).toBe(expected.stored);
    expect(await countRows(ctx.db, 'SELECT count(DISTINCT message) AS n FROM events')).toBe(expected.stored);
    const rollups = "SELECT coalesce(sum(count), 0) AS n FROM rollups WHERE kind = 'event'";
    expect(await countRows(ctx.db, rollups)).toBe(expected.stored);
    expect(await countRows(ctx.db, "SELECT coalesce(sum(count), 0) AS n FROM ingest_totals WHERE kind = 'event'")).toBe(
      expected.stored,
    );
    expect(offsetSum(await offsets(ctx))).toBe(expected.offsets);
    expect(await dlqRecords(ctx)).toBe(expected.dlq);
  }

  it('pauses on a read-only database (default_transaction_read_only) and resumes when it is writable', async () => {
    const database = 'vigil_read_only';
    const ctx = await setUp(database);
    const writer = await ctx.start('writer');
    await produce(ctx, 'before');
    const before = await settled(ctx, { stored: PER_PHASE, dlq: 0, offsets: PER_PHASE });

    await admin.query(`ALTER DATABASE ${database} SET default_transaction_read_only = on`);
    await terminateWriterSessions(database);
    await produce(ctx, 'during');
    const outage = { reason: READ_ONLY, kind: 'database_read_only', offsets: before };
    await expectPaused(ctx, writer, outage, { stored: PER_PHASE, dlq: 0 });

    await admin.query(`ALTER DATABASE ${database} RESET default_transaction_read_only`);
    await terminateWriterSessions(database);
    await expectResumed(ctx, writer, { stored: 2 * PER_PHASE, dlq: 0, offsets: 2 * PER_PHASE });
  });

  it("pauses when the writer's role loses INSERT on events, then on rollups, and resumes after GRANT", async () => {
    const database = 'vigil_grants';
    const ctx = await setUp(database);
    const role = `vigil_writer_${ctx.id}`;
    // A role like a production deployment's: not a superuser, not the owner, only the privileges it needs.
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await ctx.db.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await ctx.db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
    await ctx.db.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
    // Creating partitions takes the tables' owner: made here, as the maintenance role would.
    await ensureAllPartitions(ctx.db, ctx.config.storage.granularity, Date.now() - DAY_MS, Date.now() + DAY_MS);
    const url = new URL(connectionString(cluster, database));
    url.username = role;
    const writer = await ctx.start('writer', { DATABASE_URL: url.toString() });
    await produce(ctx, 'before');
    const before = await settled(ctx, { stored: PER_PHASE, dlq: 0, offsets: PER_PHASE });

    await ctx.db.query(`REVOKE INSERT ON events FROM ${role}`);
    await produce(ctx, 'during');
    const revoked = { reason: NO_GRANT, kind: 'database_permission' };
    await expectPaused(ctx, writer, { ...revoked, offsets: before }, { stored: PER_PHASE, dlq: 0 });
    await ctx.db.query(`GRANT INSERT ON events TO ${role}`);
    await expectResumed(ctx, writer, { stored: 2 * PER_PHASE, dlq: 0, offsets: 2 * PER_PHASE });

    // The rows go in, the malformed record's dead letter is produced, then the rollup upsert is refused: the letter
    // is produced once, not once per retry.
    await ctx.db.query(`REVOKE INSERT ON rollups FROM ${role}`);
    await produce(ctx, 'late', 1);
    const middle = await offsets(ctx);
    await expectPaused(ctx, writer, { ...revoked, offsets: middle }, { stored: 2 * PER_PHASE, dlq: 1 });
    await ctx.db.query(`GRANT INSERT ON rollups TO ${role}`);
    await expectResumed(ctx, writer, { stored: 3 * PER_PHASE, dlq: 1, offsets: 3 * PER_PHASE + 1 });
  });

  it('pauses when the schema does not match the code (a renamed column) instead of dead-lettering', async () => {
    const ctx = await setUp('vigil_schema');
    const writer = await ctx.start('writer');
    await produce(ctx, 'before');
    const before = await settled(ctx, { stored: PER_PHASE, dlq: 0, offsets: PER_PHASE });

    await ctx.db.query('ALTER TABLE events RENAME COLUMN message TO message_renamed');
    await produce(ctx, 'during');
    const outage = { reason: UNEXPECTED, kind: 'other', offsets: before };
    await expectPaused(ctx, writer, outage, { stored: PER_PHASE, dlq: 0 });
    await ctx.db.query('ALTER TABLE events RENAME COLUMN message_renamed TO message');
    await expectResumed(ctx, writer, { stored: 2 * PER_PHASE, dlq: 0, offsets: 2 * PER_PHASE });
  });
});
