/**
 * Alert states survive what happens to alerters: a restart while an alert is pending keeps its timer (it fires
 * when `for` has passed since it first went pending, from windows re-read from Kafka, with no new sample), a
 * restart while firing keeps it firing without a second notification, and a rebalance between two alerter
 * instances splits the states by partition and hands them over without new transitions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import type { Alerter } from '../services/alerter/alerter.ts';
import { createTestContext, countRows, waitFor, type TestContext } from './helpers/context.ts';
import { startHttpSink, type HttpSink } from './helpers/webhook-sink.ts';

const BASE = '/api/v1/monitoring/alerts';
const ALERTER = { ALERTER_TICK_MS: '200', ALERTER_SESSION_TIMEOUT_MS: '6000' };

function alerterOf(runtime: Runtime): Alerter {
  return (runtime.roles.find((r) => r.name === 'alerter') as unknown as { alerter: Alerter }).alerter;
}

describe('alerter durability', () => {
  let ctx: TestContext;
  let gateway: Runtime;
  let sink: HttpSink;

  beforeAll(async () => {
    sink = await startHttpSink();
    ctx = await createTestContext({ ...ALERTER, ALERTER_WEBHOOK_URL: sink.url });
    gateway = await ctx.start('gateway');
  });
  afterAll(async () => {
    await ctx?.cleanup();
    await sink?.close();
  });

  const post = async (name: string, host: string, value: number) => {
    const res = await gateway.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/metrics',
      headers: { authorization: `Bearer ${ctx.token('user')}` },
      payload: { name, metric_type: 'gauge', value, labels: { host } },
    });
    expect(res.statusCode).toBe(202);
  };
  const createRule = async (runtime: Runtime, body: object): Promise<string> => {
    const res = await runtime.app.inject({
      method: 'POST',
      url: BASE,
      headers: { authorization: `Bearer ${ctx.token('moderator')}` },
      payload: body,
    });
    expect(res.statusCode).toBe(201);
    return res.json().data.id;
  };
  const instances = async (ruleId: string) =>
    (
      await ctx.db.query<{ fingerprint: string; state: string; active_at: Date; fired_at: Date | null }>(
        'SELECT fingerprint, state, active_at, fired_at FROM alert_instances WHERE rule_id = $1 ORDER BY fingerprint',
        [ruleId],
      )
    ).rows;
  const transitions = (ruleId: string) =>
    countRows(ctx.db, 'SELECT count(*) AS n FROM alert_transitions WHERE rule_id = $1', [ruleId]);

  it('restart while pending keeps the timer; restart while firing keeps firing, no second notification', async () => {
    let alerter = await ctx.start('alerter');
    const ruleId = await createRule(alerter, { name: 'cpu restart', query: 'cpu_usage{host="a"} > 80', for: '4s' });
    await post('cpu_usage', 'a', 95);
    const [pending] = await waitFor(
      () => instances(ruleId),
      (rows) => rows.length === 1,
    );
    expect(pending.state).toBe('pending');

    // Restart while pending, with no sample after it: the new alerter re-reads the window from Kafka.
    await alerter.stop();
    alerter = await ctx.start('alerter');
    const [fired] = await waitFor(
      () => instances(ruleId),
      (rows) => rows[0]?.state === 'firing',
      15_000,
    );
    expect(fired.active_at.getTime()).toBe(pending.active_at.getTime()); // the timer was not reset
    const heldFor = fired.fired_at!.getTime() - pending.active_at.getTime();
    expect(heldFor).toBeGreaterThanOrEqual(4000);
    expect(heldFor).toBeLessThan(12_000);
    await waitFor(
      async () => sink.requests.length,
      (n) => n === 1,
    );
    expect(await transitions(ruleId)).toBe(2); // inactive → pending, pending → firing

    // Restart while firing: still firing, same fired_at, no new transition, no second webhook, no second alert event.
    await alerter.stop();
    alerter = await ctx.start('alerter');
    await waitFor(
      async () => alerterOf(alerter).caughtUp && alerterOf(alerter).partitionCount === 6,
      (ok) => ok,
    );
    await new Promise((r) => setTimeout(r, 1500)); // several ticks
    const [still] = await instances(ruleId);
    expect([still.state, still.fired_at!.getTime()]).toEqual(['firing', fired.fired_at!.getTime()]);
    expect(await transitions(ruleId)).toBe(2);
    expect(sink.requests.length).toBe(1);

    await post('cpu_usage', 'a', 10);
    await waitFor(
      () => instances(ruleId),
      (rows) => rows.length === 0,
    );
    expect(await transitions(ruleId)).toBe(3);
    await waitFor(
      async () => sink.requests.length,
      (n) => n === 2,
    );
    expect(sink.requests.map((r) => JSON.parse(r.body).status)).toEqual(['firing', 'resolved']);
    await alerter.stop();
  });

  it('a new rule judges the data in Kafka: windows are re-read without counting twice what was kept', async () => {
    const alerter = await ctx.start('alerter');
    const kept = await createRule(alerter, {
      name: 'refill kept',
      query: 'count_over_time(events{source="refill"}[2m]) > 5',
    });
    await waitFor(
      async () => alerterOf(alerter).caughtUp && alerterOf(alerter).partitionCount === 6,
      (ok) => ok,
      30_000,
    );
    const events = Array.from({ length: 6 }, (_, i) => ({
      event_type: 'log',
      source: 'refill',
      level: 'error',
      message: `failure ${i}`,
    }));
    const posted = await gateway.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/events',
      headers: { authorization: `Bearer ${ctx.token('user')}` },
      payload: events,
    });
    expect(posted.json().data).toMatchObject({ accepted: 6, rejected: 0 });
    for (const value of [70, 80, 90]) await post('refill_temp', 'a', value); // a metric no rule reads yet
    // The kept selector's window has all six events once its rule fires with 6.
    await waitFor(
      () => instances(kept),
      (rows) => rows[0]?.state === 'firing',
      15_000,
    );
    const value = async (ruleId: string) =>
      (await ctx.db.query('SELECT value FROM alert_instances WHERE rule_id = $1', [ruleId])).rows[0]?.value;
    expect(await value(kept)).toBe(6);

    // New rules over a new metric name and a new event selector: no sample or event arrives after them, so they
    // can only fire from data read back from Kafka.
    const avg = await createRule(alerter, { name: 'refill avg', query: 'avg_over_time(refill_temp[2m]) > 75' });
    const errors = await createRule(alerter, {
      name: 'refill errors',
      query: 'count_over_time(events{source="refill", level="error"}[2m]) > 5',
    });
    await waitFor(
      () => instances(avg),
      (rows) => rows[0]?.state === 'firing',
      15_000,
    );
    await waitFor(
      () => instances(errors),
      (rows) => rows[0]?.state === 'firing',
      15_000,
    );
    expect([await value(avg), await value(errors)]).toEqual([80, 6]);
    // The re-read rebuilt the kept window rather than adding to it: a second rule over it counts 6, not 12, and
    // the first one stayed firing without a new transition.
    const again = await createRule(alerter, {
      name: 'refill again',
      query: 'count_over_time(events{source="refill"}[2m]) > 5',
    });
    await waitFor(
      () => instances(again),
      (rows) => rows[0]?.state === 'firing',
      15_000,
    );
    expect(await value(again)).toBe(6);
    expect(await transitions(kept)).toBe(1);
    expect((await instances(kept))[0].state).toBe('firing');
    for (const id of [kept, avg, errors, again]) {
      const res = await alerter.app.inject({
        method: 'DELETE',
        url: `${BASE}/${id}`,
        headers: { authorization: `Bearer ${ctx.token('moderator')}` },
      });
      expect(res.statusCode).toBe(200);
    }
    await alerter.stop();
  });

  it('splits alert states between two alerter instances and hands them over on a rebalance', async () => {
    const a = await ctx.start('alerter');
    const ruleId = await createRule(a, { name: 'mem split', query: 'mem_usage > 90' });
    const sumId = await createRule(a, { name: 'mem sum', query: 'sum(mem_usage) > 1100' });
    const b = await ctx.start('alerter');
    const [alerterA, alerterB] = [alerterOf(a), alerterOf(b)];
    await waitFor(
      async () => [alerterA.partitionCount, alerterB.partitionCount, alerterA.caughtUp && alerterB.caughtUp] as const,
      ([pa, pb, ok]) => pa + pb === 6 && pa > 0 && pb > 0 && ok === true,
      30_000,
    );
    const complete = async (runtime: Runtime) =>
      (await runtime.registry.getSingleMetric('vigil_alerter_aggregations_complete')!.get()).values[0]?.value;
    // The members share the partitions: neither says its sums are complete.
    expect([await complete(a), await complete(b)]).toEqual([0, 0]);

    const hosts = Array.from({ length: 12 }, (_, i) => `h${i}`);
    for (const host of hosts) await post('mem_usage', host, 95);
    await waitFor(
      () => instances(ruleId),
      (rows) => rows.length === 12 && rows.every((r) => r.state === 'firing'),
    );
    // The sum spans both members' partitions and is still exact: it fires only once all 12 series are in it
    // (11 × 95 = 1045 is below the threshold; 12 × 95 = 1140), from partials of every partition.
    const [sum] = await waitFor(
      () => instances(sumId),
      (rows) => rows.length === 1 && rows[0].state === 'firing',
    );
    expect((await ctx.db.query('SELECT value FROM alert_instances WHERE rule_id = $1', [sumId])).rows[0].value).toBe(
      1140,
    );
    // Each instance is held by the alerter that owns its series' partition, and by no other.
    await Promise.all([alerterA.idle(), alerterB.idle()]);
    expect(alerterA.engine.instanceCount + alerterB.engine.instanceCount).toBe(12 + 1); // + the sum, on one member
    expect(alerterA.engine.instanceCount).toBeGreaterThan(0);
    expect(alerterB.engine.instanceCount).toBeGreaterThan(0);
    expect(await transitions(ruleId)).toBe(12);

    // B leaves: A takes over its partitions and their firing alerts, without new transitions.
    await b.stop();
    await waitFor(
      async () => alerterA.partitionCount === 6 && alerterA.caughtUp,
      (ok) => ok,
      30_000,
    );
    expect(await complete(a)).toBe(1);
    // Deliberately several ticks after the takeover: a new transition or a lost instance would show by now.
    await new Promise((r) => setTimeout(r, 1000));
    await alerterA.idle();
    expect(alerterA.engine.instanceCount).toBe(13);
    expect(await transitions(ruleId)).toBe(12);
    expect((await instances(sumId))[0].fired_at).toEqual(sum.fired_at);
    expect(await transitions(sumId)).toBe(1);

    for (const host of hosts) await post('mem_usage', host, 20);
    await waitFor(
      () => instances(ruleId),
      (rows) => rows.length === 0,
    );
    expect(
      await countRows(
        ctx.db,
        `SELECT count(*) AS n FROM alert_transitions WHERE rule_id = $1 AND to_state = 'resolved'`,
        [ruleId],
      ),
    ).toBe(12);
    expect(await transitions(ruleId)).toBe(24);
    await waitFor(
      () => instances(sumId),
      (rows) => rows.length === 0,
    );
    expect(await transitions(sumId)).toBe(2);
    await a.stop();
  });
});
