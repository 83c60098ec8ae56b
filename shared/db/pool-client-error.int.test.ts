/**
 * Regression: a checked-out pool client whose connection dies between two queries (PostgreSQL restarting while the
 * writer awaited Kafka inside a transaction) emitted an unhandled 'error' and crashed the process. Now the next
 * query fails with a retriable error instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRetriablePgError } from './errors.ts';
import { createPool, type Pool } from './pool.ts';
import { withTimeout } from '../wait.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';

describe('a checked-out client losing its connection', () => {
  let ctx: TestContext;
  let pool: Pool;

  beforeAll(async () => {
    ctx = await createTestContext();
    pool = createPool(ctx.config.database.url, 2, 'vigil-test-victim');
  });
  afterAll(async () => {
    await pool?.end();
    await ctx?.cleanup();
  });

  it('does not crash the process; the next query fails as retriable', async () => {
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    // The 'error' event fires while nothing is running on the client (the pool's listener keeps it from crashing).
    const errored = new Promise((resolve) => client.once('error', resolve));
    await ctx.db.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    await withTimeout(errored, 10_000, () => {
      throw new Error('the client never emitted error after its backend was terminated');
    });
    const error = await client.query('SELECT 1').catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect(isRetriablePgError(error)).toBe(true);
    client.release(error as Error);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});
