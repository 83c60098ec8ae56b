/**
 * Dropping expired partitions under a short lock_timeout: the timeout applies to the DROPs only and never stays on
 * the pool's connections — not after a DROP that waited too long (deferred), nor after one that failed outright.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { bucketStart, createPartitions, partitionName } from './partitions.ts';
import { createPool, type Pool } from './pool.ts';
import { dropExpiredPartitions } from './retention.ts';

const DAY = 86_400_000;
const LOCK_TIMEOUT_MS = 200;

describe('dropExpiredPartitions', () => {
  let ctx: TestContext;
  /** One connection: whatever a step leaves on it, the next query on the pool sees. */
  let pool: Pool;
  /** The server's lock_timeout, read before any step ran on the pool. */
  let defaultTimeout: string;
  const now = Date.now();
  const day = (offset: number) => bucketStart(now, 'day') + offset * DAY;
  const lockTimeout = async () =>
    (await pool.query<{ lock_timeout: string }>('SHOW lock_timeout')).rows[0].lock_timeout;

  beforeAll(async () => {
    ctx = await createTestContext();
    pool = createPool(ctx.config.database.url, 1, 'vigil-test-retention');
    defaultTimeout = await lockTimeout();
  });
  afterAll(async () => {
    await pool?.end();
    await ctx?.cleanup();
  });

  it('a failing DROP leaves the default lock_timeout on the connection; the error reaches the caller', async () => {
    await createPartitions(ctx.db, 'events', 'day', [day(-60)]);
    // A view on the partition makes its DROP fail (dependent objects), which is not a lock wait: it is rethrown.
    const partition = partitionName('events', day(-60), 'day');
    await ctx.db.query(`CREATE VIEW retention_blocker AS SELECT * FROM "${partition}"`);
    await expect(dropExpiredPartitions(pool, 'events', 30, now, LOCK_TIMEOUT_MS)).rejects.toMatchObject({
      code: '2BP01',
    });
    expect(pool.totalCount).toBe(1);
    expect(await lockTimeout()).toBe(defaultTimeout);
    await ctx.db.query('DROP VIEW retention_blocker');
    expect(await dropExpiredPartitions(pool, 'events', 30, now, LOCK_TIMEOUT_MS)).toEqual({
      dropped: [partition],
      deferred: [],
    });
  });

  it('a DROP that waits past lock_timeout is deferred, the others go, and the timeout does not stay', async () => {
    await createPartitions(ctx.db, 'metrics', 'day', [day(-200), day(-199)]);
    const [held, free] = [day(-200), day(-199)].map((start) => partitionName('metrics', start, 'day'));
    const holder = await ctx.db.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE "${held}" IN ACCESS SHARE MODE`);
      expect(await dropExpiredPartitions(pool, 'metrics', 90, now, LOCK_TIMEOUT_MS)).toEqual({
        dropped: [free],
        deferred: [held],
      });
      expect(await lockTimeout()).toBe(defaultTimeout);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect(await dropExpiredPartitions(pool, 'metrics', 90, now, LOCK_TIMEOUT_MS)).toEqual({
      dropped: [held],
      deferred: [],
    });
  });
});
