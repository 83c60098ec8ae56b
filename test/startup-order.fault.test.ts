/**
 * Startup order of an all-in-one process, as deployed (separate OS processes, the real broker and PostgreSQL):
 * - after SIGKILL and a restart, ingest accepts (202) within 5 s, although the consumer groups cannot be joined
 *   before the killed member's session (30 s by default) expires (meanwhile `/readyz?role=gateway` is ready and
 *   `/readyz` says the writer is starting, then joining); the writer stores again once Kafka allows;
 * - a second process started on a port already in use fails at once, having joined no consumer group and claimed
 *   no alerter partition (the first one keeps every partition it owns).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTestContext, countRows, waitFor, type TestContext } from './helpers/context.ts';
import { freePort, spawnVigil, type VigilProcess } from './helpers/process.ts';

const INGEST_BUDGET_MS = 5000;
const START_NICE = -10;

describe('startup order', () => {
  let ctx: TestContext | undefined;
  const procs: VigilProcess[] = [];

  afterEach(async () => {
    for (const p of procs.splice(0)) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    await ctx?.cleanup();
  });

  const spawn = (env: Record<string, string>, nice?: number) => {
    const p = spawnVigil('all', env, { nice });
    procs.push(p);
    return p;
  };
  const status = async (url: string, init?: RequestInit): Promise<number> => {
    try {
      return (await fetch(url, init)).status;
    } catch {
      return 0; // connection refused
    }
  };
  const explain = (p: VigilProcess) => (error: unknown) => {
    throw new Error(`${(error as Error).message}\nprocess output:\n${p.output()}`);
  };

  it('ingest accepts within 5 s of a restart after SIGKILL; the writer resumes once Kafka allows', async () => {
    // Default session timeouts (30 s): the restarted member's joins wait for the killed member's to expire.
    ctx = await createTestContext({ LOG_LEVEL: 'warn' });
    const c = ctx;
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { ...c.env, PORT: String(port) };
    const post = (message: string) =>
      status(`${base}/api/v1/monitoring/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.token('user')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ event_type: 'log', source: `restart-${c.id}`, level: 'info', message }),
      });
    const stored = (message: string) =>
      countRows(c.db, 'SELECT count(*) AS n FROM events WHERE message = $1', [message]);

    const first = spawn(env);
    await waitFor(
      () => status(`${base}/readyz`),
      (s) => s === 200,
      60_000,
    ).catch(explain(first));
    expect(await post('before the crash')).toBe(202);
    await waitFor(
      () => stored('before the crash'),
      (n) => n === 1,
      30_000,
    ).catch(explain(first));

    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const restartedAt = Date.now();
    // Raised priority: the budget is the process's own start-up, not the other work on a shared machine.
    const second = spawn(env, START_NICE);
    const accepted = await waitFor(
      () => post('after the restart'),
      (s) => s === 202,
      30_000,
    ).catch(explain(second));
    const tookMs = Date.now() - restartedAt;
    expect(accepted).toBe(202);
    expect(tookMs, `first 202 ${tookMs} ms after the restart`).toBeLessThanOrEqual(INGEST_BUDGET_MS);
    // Meanwhile the writer waits to join its group (once its modules are loaded: until then `writer: starting`):
    // the process is not ready, its gateway is.
    const writerCheck = async () => {
      const whole = await fetch(`${base}/readyz`);
      return {
        status: whole.status,
        writer: ((await whole.json()) as { checks: Record<string, string> }).checks.writer,
      };
    };
    expect(await waitFor(writerCheck, (c) => c.writer !== 'writer: starting', 30_000).catch(explain(second))).toEqual({
      status: 503,
      writer: "writer: joining the consumer group (after a crash: once the old member's session expires)",
    });
    const gateway = await fetch(`${base}/readyz?role=gateway`);
    expect([gateway.status, await gateway.json()]).toEqual([200, { status: 'ready', checks: { kafka: 'ok' } }]);

    // The consumers join once the killed member's session expired, and the accepted event is stored once.
    await waitFor(
      () => stored('after the restart'),
      (n) => n === 1,
      60_000,
    ).catch(explain(second));
    await waitFor(
      () => status(`${base}/readyz`),
      (s) => s === 200,
      30_000,
    ).catch(explain(second));
    expect(await stored('after the restart')).toBe(1);
    expect(await stored('before the crash')).toBe(1);
  });

  it('a second process on a busy port fails fast, having joined no group and claimed nothing', async () => {
    ctx = await createTestContext({
      LOG_LEVEL: 'warn',
      ALERTER_SESSION_TIMEOUT_MS: '6000',
      WRITER_SESSION_TIMEOUT_MS: '6000',
    });
    const c = ctx;
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const first = spawn({ ...ctx.env, PORT: String(port) });
    const generations = async () => {
      const sql = `SELECT topic || ':' || partition AS k, generation FROM alert_partition_owners ORDER BY 1`;
      return (await c.db.query<{ k: string; generation: string }>(sql)).rows;
    };
    const claimedAll = async () => (await status(`${base}/readyz`)) === 200 && (await generations()).length === 7;
    await waitFor(claimedAll, (ok) => ok, 60_000).catch(explain(first));
    const owned = await generations();

    const second = spawn({ ...ctx.env, PORT: String(port) });
    expect(await second.exited).toBe('1');
    expect(second.output()).toMatch(/vigil failed to start: .*EADDRINUSE/);

    // Nothing changed hands: no rebalance claimed anew, and the first process still owns all it holds.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await generations()).toEqual(owned);
    const groups = await ctx.kafkajs.admin();
    await groups.connect();
    try {
      const described = await groups.describeGroups([ctx.config.alerter.groupId, ctx.config.writer.groupId]);
      expect(described.groups.map((g) => [g.groupId, g.state, g.members.length])).toEqual([
        [ctx.config.alerter.groupId, 'Stable', 1],
        [ctx.config.writer.groupId, 'Stable', 1],
      ]);
    } finally {
      await groups.disconnect();
    }
    expect(await status(`${base}/readyz`)).toBe(200);
  });
});
