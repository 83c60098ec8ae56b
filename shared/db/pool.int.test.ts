/**
 * inTransaction, the one way to run a transaction: commit, rollback with the work's own error, and the rule that a
 * connection whose transaction could not be rolled back (or that discardOn gave up) never goes back to the pool —
 * whether the pool's client was checked out by inTransaction or by its caller (release()) — and a plain pg.Client.
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { createPool, inTransaction, release, type Pool } from './pool.ts';

const TERMINATE_WAIT_MS = 10_000;

describe('inTransaction', () => {
  let ctx: TestContext;
  let pool: Pool;

  const values = async () => (await ctx.db.query<{ v: number }>('SELECT v FROM tx_probe ORDER BY v')).rows;
  const pidOf = async (client: pg.ClientBase) =>
    (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  /** Ends the connection under `client` from another session (waiting until it is gone): its next statement fails. */
  const killConnection = async (client: pg.ClientBase) => {
    await ctx.db.query('SELECT pg_terminate_backend($1, $2)', [await pidOf(client), TERMINATE_WAIT_MS]);
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    await ctx.db.query('CREATE TABLE tx_probe (v int)');
    pool = createPool(ctx.config.database.url, 1, 'vigil-test-transactions');
  });
  beforeEach(async () => {
    await ctx.db.query('TRUNCATE tx_probe');
  });
  afterAll(async () => {
    await pool?.end();
    await ctx?.cleanup();
  });

  it('commits what the work did and answers its result; the client goes back to the pool', async () => {
    const result = await inTransaction(pool, async (client) => {
      await client.query('INSERT INTO tx_probe VALUES (1), (2)');
      return 'done';
    });
    expect(result).toBe('done');
    expect(await values()).toEqual([{ v: 1 }, { v: 2 }]);
    expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
  });

  it('rolls back when the work throws, rethrowing its error as is, and pools the client again', async () => {
    const failure = new Error('work failed');
    let pid = 0;
    const thrown = await inTransaction(pool, async (client) => {
      pid = await pidOf(client);
      await client.query('INSERT INTO tx_probe VALUES (1)');
      throw failure;
    }).catch((error: unknown) => error);
    expect(thrown).toBe(failure);
    expect(await values()).toEqual([]);
    expect(await pool.query('SELECT pg_backend_pid() AS pid')).toMatchObject({ rows: [{ pid }] });
  });

  it('opens the transaction with `begin` (SET LOCAL lasts for it only)', async () => {
    const inside = await inTransaction(
      pool,
      async (client) => (await client.query('SHOW work_mem')).rows[0].work_mem as string,
      { begin: "BEGIN; SET LOCAL work_mem = '7MB'" },
    );
    expect(inside).toBe('7MB');
    expect((await pool.query('SHOW work_mem')).rows[0].work_mem).not.toBe('7MB');
  });

  it('discards a client of the pool whose ROLLBACK failed', async () => {
    let pid = 0;
    const failure = new Error('work failed after the connection was lost');
    const thrown = await inTransaction(pool, async (client) => {
      pid = await pidOf(client);
      await killConnection(client);
      throw failure;
    }).catch((error: unknown) => error);
    expect(thrown).toBe(failure);
    const next = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    expect(next).not.toBe(pid);
    expect(pool.totalCount).toBe(1);
  });

  it('discards without a ROLLBACK the client of a failure discardOn gives up on; nothing is stored', async () => {
    const statements: string[] = [];
    let pid = 0;
    const failure = new Error('connection gone');
    const thrown = await inTransaction(
      pool,
      async (client) => {
        pid = await pidOf(client);
        const query = client.query.bind(client);
        client.query = ((text: string, ...rest: never[]) => {
          statements.push(text);
          return query(text, ...rest);
        }) as typeof client.query;
        await client.query('INSERT INTO tx_probe VALUES (1)');
        throw failure;
      },
      { discardOn: (error) => error === failure },
    ).catch((error: unknown) => error);
    expect(thrown).toBe(failure);
    expect(statements).toEqual(['INSERT INTO tx_probe VALUES (1)']);
    expect(await values()).toEqual([]);
    const next = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    expect(next).not.toBe(pid);
  });

  it("leaves a caller's client with its caller; release() discards it only after a failed ROLLBACK", async () => {
    const client = await pool.connect();
    const pid = await pidOf(client);
    await expect(
      inTransaction(client, async () => {
        await client.query('INSERT INTO tx_probe VALUES (1)');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await pidOf(client)).toBe(pid); // still the caller's, usable
    release(client);
    expect((await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).toBe(pid);

    const broken = await pool.connect();
    const brokenPid = await pidOf(broken);
    await expect(
      inTransaction(broken, async () => {
        await killConnection(broken);
        throw new Error('lost');
      }),
    ).rejects.toThrow('lost');
    release(broken);
    expect((await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).not.toBe(brokenPid);
    expect(await values()).toEqual([]);
  });

  it('runs on a plain pg.Client its caller connected (the migrations)', async () => {
    const client = new pg.Client({ connectionString: ctx.config.database.url });
    await client.connect();
    try {
      await inTransaction(client, async () => {
        await client.query('INSERT INTO tx_probe VALUES (3)');
      });
      await expect(
        inTransaction(client, async () => {
          await client.query('INSERT INTO tx_probe VALUES (4)');
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      expect(await values()).toEqual([{ v: 3 }]);
    } finally {
      await client.end();
    }
  });
});
