/**
 * Expensive incident work cannot starve the rest of the API: analyses and timeline pages hold at most
 * INCIDENTS_EXPENSIVE_CONCURRENCY connections of their own, at most INCIDENTS_EXPENSIVE_QUEUE requests wait for
 * one (the next are refused at once with 429 + Retry-After), and the incident list and reads keep answering
 * while every analysis slot is stuck. The analyses are made to hang by holding a lock on incident_analyses, the
 * table they store into, so the test does not depend on timing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import type { PoolClient } from '../../shared/db/pool.ts';
import { createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import type { IncidentsHandle } from './index.ts';

const BASE = '/api/v1/monitoring/incidents';

describe('incidents: expensive work is isolated', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  const ids: string[] = [];

  beforeAll(async () => {
    ctx = await createTestContext({ DATABASE_POOL_MAX: '4' });
    api = await ctx.start('query', {
      QUERY_FOLD_INTERVAL_SECONDS: '3600',
      INCIDENTS_POLL_MS: '600000',
      INCIDENTS_EXPENSIVE_CONCURRENCY: '2',
      INCIDENTS_EXPENSIVE_QUEUE: '2',
      RATE_LIMIT_RECOMPUTE: '0',
      QUERY_STATEMENT_TIMEOUT_MS: '120000',
    });
    token = ctx.token('moderator', 'oncall');
    for (let i = 0; i < 6; i++) {
      const res = await call('POST', BASE, { title: `incident ${i}`, severity: 'high', sources: ['api'] });
      expect(res.statusCode, res.body).toBe(201);
      ids.push(res.json().data.id);
    }
  });
  afterAll(() => ctx?.cleanup());

  function call(method: 'GET' | 'POST', url: string, payload?: object) {
    return api.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });
  }

  it('keeps listing and reading incidents while all analysis slots hang; refuses analyses past the queue', async () => {
    const locker: PoolClient = await ctx.db.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE incident_analyses IN ACCESS EXCLUSIVE MODE');
    type Answer = { statusCode: number; body: string; headers: Record<string, unknown> };
    const expensiveConnections = `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'vigil-incidents-expensive'`;
    let workerRound: Promise<void> | undefined;
    const answered: Answer[] = [];
    let recomputes: Promise<Answer>[] = [];
    try {
      recomputes = ids.map((id) =>
        call('GET', `${BASE}/${id}/analysis?recompute=true`).then((res) => (answered.push(res), res)),
      );
      // Two analyses run and hang on the lock, two wait for a slot: the other two are refused at once.
      await waitFor(
        async () => answered.length,
        (n) => n >= 2,
      );
      const refused = [...answered];
      expect(refused).toHaveLength(2);
      for (const res of refused) {
        expect(res.statusCode, res.body).toBe(429);
        expect(res.headers['retry-after']).toBe('2');
        expect(JSON.parse(res.body)).toEqual({
          success: false,
          error: {
            code: 'VIGIL_ERR_RATE_LIMITED',
            message: '2 analyses or timeline pages are running and 2 waiting on this process; retry after 2 s',
          },
        });
      }
      await waitFor(
        async () =>
          (
            await ctx.db.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()
                 AND application_name = 'vigil-incidents-expensive' AND wait_event_type = 'Lock'`,
            )
          ).rows[0].n,
        (n) => n === 2,
      );
      // A timeline page waits for a slot too: the queue is full, so it is refused rather than stalled.
      const timeline = await call('GET', `${BASE}/${ids[0]}/timeline`);
      expect(timeline.statusCode, timeline.body).toBe(429);

      // The cheap routes have their own connections: they answer, and fast.
      const started = Date.now();
      const list = await call('GET', `${BASE}?limit=10`);
      expect(list.statusCode, list.body).toBe(200);
      expect(list.json().data).toHaveLength(6);
      const one = await call('GET', `${BASE}/${ids[5]}`);
      expect(one.statusCode, one.body).toBe(200);
      const stored = await call('POST', BASE, { title: 'one more', severity: 'low' });
      expect(stored.statusCode, stored.body).toBe(201);
      expect(Date.now() - started).toBeLessThan(4000);

      // The worker's automatic analyses take the same slots: it waits its turn, neither opening a third expensive
      // connection nor hanging on one of the API's (which an analysis stuck on the lock would show as a Lock wait).
      const worker = (api.roles.find((r) => r.name === 'incidents') as IncidentsHandle).worker;
      workerRound = worker.poll();
      // Deliberately a second in which the worker would open a third connection or wait on a lock if it could.
      await new Promise((r) => setTimeout(r, 1000));
      expect((await ctx.db.query(expensiveConnections)).rows[0].n).toBe(2);
      const apiLockWaits = `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'vigil-incidents' AND wait_event_type = 'Lock'`;
      expect((await ctx.db.query(apiLockWaits)).rows[0].n).toBe(0);
      expect((await call('GET', `${BASE}?limit=1`)).statusCode).toBe(200);
    } finally {
      await locker.query('COMMIT');
      locker.release();
    }
    // Released: the four admitted analyses complete and are stored.
    const all = await Promise.all(recomputes);
    expect(all.map((res) => res.statusCode).sort()).toEqual([200, 200, 200, 200, 429, 429]);
    const { rows } = await ctx.db.query('SELECT count(*)::int AS n FROM incident_analyses WHERE trigger = $1', [
      'request',
    ]);
    expect(rows[0].n).toBe(4);
    await workerRound;
    const automatic = await ctx.db.query(`SELECT count(*)::int AS n FROM incident_analyses WHERE trigger = 'open'`);
    expect(automatic.rows[0].n).toBeGreaterThan(0);
    expect((await ctx.db.query(expensiveConnections)).rows[0].n).toBeLessThanOrEqual(2);
  });
});
