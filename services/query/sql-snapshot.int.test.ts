/**
 * runInSnapshot (sql.ts): statements split over two connections answer from one snapshot, whatever commits while
 * they run, and a pool with one connection runs them all on it rather than waiting for a second; withSnapshot's
 * rounds share that snapshot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { runInSnapshot, withSnapshot } from './sql.ts';

/** The advisory lock the test holds while the statements wait on it. */
const GATE = 20_261_207;
const COUNT = `SELECT count(*)::int AS n, pg_backend_pid() AS pid
                 FROM (SELECT pg_advisory_xact_lock_shared(${GATE})) gate, snapshot_rows`;

describe('runInSnapshot', () => {
  let ctx: TestContext;
  const pools: Pool[] = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    await ctx.db.query('CREATE TABLE snapshot_rows (id int)');
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await ctx?.cleanup();
  });

  function pool(max: number): Pool {
    const p = createPool(ctx.env.DATABASE_URL, max, 'snapshot-test');
    pools.push(p);
    return p;
  }

  async function waiting(): Promise<number> {
    const { rows } = await ctx.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
        WHERE application_name = 'snapshot-test' AND wait_event_type = 'Lock' AND state = 'active'`,
    );
    return Number(rows[0].n);
  }

  /**
   * Runs `statements` while the gate is held and commits a row once the first connection waits on it. With a pool
   * of two, the pool's second connection is held until then: it connects, imports the snapshot and starts its
   * statement only after the commit. The gate opens once `waiters` statements wait on it.
   */
  async function withCommitDuring(p: Pool, statements: number, waiters: number) {
    await ctx.db.query('TRUNCATE snapshot_rows; INSERT INTO snapshot_rows VALUES (1)');
    const gate = await ctx.db.connect();
    const held = waiters > 1 ? await p.connect() : null;
    try {
      await gate.query('SELECT pg_advisory_lock($1)', [GATE]);
      const answer = runInSnapshot<{ n: number; pid: number }>(
        p,
        Array.from({ length: statements }, () => ({ sql: COUNT, values: [] })),
      );
      answer.catch(() => {});
      await waitFor(waiting, (n) => n >= 1);
      await ctx.db.query('INSERT INTO snapshot_rows VALUES (2)');
      held?.release();
      await waitFor(waiting, (n) => n >= waiters);
      await gate.query('SELECT pg_advisory_unlock($1)', [GATE]);
      return await answer;
    } finally {
      gate.release();
    }
  }

  it("answers every statement in the first one's snapshot, on two connections, whatever commits then", async () => {
    const results = await withCommitDuring(pool(2), 2, 2);
    expect(results.map((rows) => rows[0].n)).toEqual([1, 1]);
    // Two backends answered: the second imported the first one's snapshot.
    expect(new Set(results.map((rows) => rows[0].pid)).size).toBe(2);
    // The row committed meanwhile is there for the next read.
    const after = await runInSnapshot<{ n: number }>(pool(2), [
      { sql: 'SELECT count(*)::int AS n FROM snapshot_rows', values: [] },
      { sql: 'SELECT count(*)::int AS n FROM snapshot_rows WHERE id > $1', values: [0] },
    ]);
    expect(after).toEqual([[{ n: 2 }], [{ n: 2 }]]);
  });

  it('runs every statement on the one connection of a pool of one, in order, without waiting for another', async () => {
    const results = await withCommitDuring(pool(1), 3, 1);
    expect(results.map((rows) => rows[0].n)).toEqual([1, 1, 1]);
    expect(new Set(results.map((rows) => rows[0].pid)).size).toBe(1);
  });

  it('answers a failing statement with the domain error and leaves the pool usable', async () => {
    const p = pool(2);
    await expect(
      runInSnapshot(p, [
        { sql: 'SELECT 1 AS n', values: [] },
        { sql: 'SELECT * FROM no_such_table', values: [] },
      ]),
    ).rejects.toThrow();
    expect(await runInSnapshot<{ n: number }>(p, [{ sql: 'SELECT 1 AS n', values: [] }])).toEqual([[{ n: 1 }]]);
    expect(p.totalCount).toBeLessThanOrEqual(2);
  });

  it('keeps one snapshot across the rounds of a session on both connections, whatever commits between', async () => {
    await ctx.db.query('TRUNCATE snapshot_rows; INSERT INTO snapshot_rows VALUES (1)');
    const p = pool(2);
    const count = { sql: 'SELECT count(*)::int AS n, pg_backend_pid() AS pid FROM snapshot_rows', values: [] };
    const rounds = await withSnapshot(p, async (run) => {
      const first = await run<{ n: number; pid: number }>([count, count]);
      await ctx.db.query('INSERT INTO snapshot_rows VALUES (2)');
      // The second connection may still be importing: the round waits for nothing, and sees the same rows.
      const second = await run<{ n: number; pid: number }>([count, count, count, count]);
      return [...first, ...second].map((rows) => rows[0]);
    });
    expect(rounds.map((r) => r.n)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(new Set(rounds.map((r) => r.pid)).size).toBeLessThanOrEqual(2);
    expect(await runInSnapshot<{ n: number }>(p, [count, count])).toMatchObject([[{ n: 2 }], [{ n: 2 }]]);
    // A failing statement in a later round fails the session and leaves the pool usable.
    await expect(
      withSnapshot(p, async (run) => {
        await run([count, count]);
        return run([count, { sql: 'SELECT * FROM no_such_table', values: [] }]);
      }),
    ).rejects.toThrow(/no_such_table/);
    expect(await runInSnapshot<{ n: number }>(p, [count, count])).toMatchObject([[{ n: 2 }], [{ n: 2 }]]);
    expect(p.totalCount).toBeLessThanOrEqual(2);
  });
});
