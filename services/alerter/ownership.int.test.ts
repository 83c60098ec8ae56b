/**
 * The alerter's ownership protocol in one process against the real broker and PostgreSQL:
 * - a claim that fails is retried; until it succeeds nothing is evaluated and /readyz names what is not owned;
 * - a save fenced out by another member's claim is counted (vigil_alerter_fenced_changes_total) and treated as
 *   lost ownership: the member rejoins the group, claims again, and the alert is stored and notified once;
 * - the periodic self-check finds a stored generation that is not the member's and repairs it the same way.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import type { Logger } from '../../shared/logger.ts';
import { keyPartition } from '../../shared/kafka/partitioner.ts';
import { seriesFingerprint } from '../../shared/schemas/metric.ts';
import { countRows, createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { startHttpSink, type HttpSink } from '../../test/helpers/webhook-sink.ts';
import type { Alerter } from './alerter.ts';
import { ownerKey } from './engine/state-store.ts';

const PARTITIONS = 3;
/** Both topics' partitions and the aggregations' pseudo-partition. */
const OWNER_ROWS = 2 * PARTITIONS + 1;

function alerterOf(runtime: Runtime): Alerter {
  return (runtime.roles.find((r) => r.name === 'alerter') as unknown as { alerter: Alerter }).alerter;
}

describe('alerter ownership', () => {
  let ctx: TestContext;
  let gateway: Runtime;
  let sink: HttpSink;

  beforeAll(async () => {
    sink = await startHttpSink();
    ctx = await createTestContext({
      ALERTER_TICK_MS: '200',
      ALERTER_SESSION_TIMEOUT_MS: '6000',
      KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
      ALERTER_WEBHOOK_URL: sink.url,
    });
    gateway = await ctx.start('gateway');
  });
  afterAll(async () => {
    await ctx?.cleanup();
    await sink?.close();
  });

  const metricsTopic = () => ctx.config.kafka.topics.metrics;
  const post = async (name: string, host: string, value: number) => {
    const res = await gateway.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/metrics',
      headers: { authorization: `Bearer ${ctx.token('user')}` },
      payload: { name, metric_type: 'gauge', value, labels: { host } },
    });
    expect(res.statusCode).toBe(202);
  };
  const createRule = async (runtime: Runtime, name: string, query: string): Promise<string> => {
    const res = await runtime.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/alerts',
      headers: { authorization: `Bearer ${ctx.token('moderator')}` },
      payload: { name, query },
    });
    expect(res.statusCode).toBe(201);
    return res.json().data.id;
  };
  const readyz = async (runtime: Runtime) => {
    const res = await runtime.app.inject({ method: 'GET', url: '/readyz' });
    return { status: res.statusCode, body: res.json() as { status: string; checks: Record<string, string> } };
  };
  const instances = async (ruleId: string) =>
    (
      await ctx.db.query<{ state: string; labels: Record<string, string> }>(
        'SELECT state, labels FROM alert_instances WHERE rule_id = $1',
        [ruleId],
      )
    ).rows;
  const transitions = (ruleId: string) =>
    countRows(ctx.db, 'SELECT count(*) AS n FROM alert_transitions WHERE rule_id = $1', [ruleId]);
  const generations = async () => {
    const sql = `SELECT topic || ':' || partition AS k, generation FROM alert_partition_owners`;
    return new Map((await ctx.db.query<{ k: string; generation: string }>(sql)).rows.map((r) => [r.k, r.generation]));
  };
  const steal = async (topic: string, partition: number): Promise<string> => {
    const { rows } = await ctx.db.query<{ generation: string }>(
      `UPDATE alert_partition_owners SET generation = nextval('alert_owner_generation_seq')
        WHERE topic = $1 AND partition = $2 RETURNING generation`,
      [topic, partition],
    );
    return rows[0].generation;
  };
  const notOwned = (list: string) =>
    `the alerter holds ${list.split(', ').length} partition(s) it does not own ` +
    `(claim pending or lost to another member): ${list}`;
  const metric = async (runtime: Runtime, name: string, labels: Record<string, string> = {}) => {
    const { values } = await runtime.registry.getSingleMetric(name)!.get();
    const found = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
    return found?.value ?? 0;
  };
  /** The member holds exactly the stored generation of every partition and of the aggregations. */
  const ownsAll = async (runtime: Runtime) => {
    const alerter = alerterOf(runtime);
    const stored = await generations();
    const origins = [metricsTopic(), ctx.config.kafka.topics.events].flatMap((topic) =>
      Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition })),
    );
    return (
      stored.size === OWNER_ROWS &&
      origins.every((o) => alerter.generationOf(o) === stored.get(`${o.topic}:${o.partition}`)) &&
      alerter.generationOf(null) === stored.get(ownerKey(null)) &&
      alerter.caughtUp
    );
  };

  it('retries a failed claim; until it succeeds the member evaluates nothing and is not ready', async () => {
    await ctx.db.query('CREATE TABLE claim_block (reason text)');
    await ctx.db.query(`INSERT INTO claim_block VALUES ('test')`);
    await ctx.db.query(`
      CREATE FUNCTION block_claims() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM claim_block) THEN RAISE EXCEPTION 'claims blocked by the test'; END IF;
        RETURN NULL;
      END $$`);
    await ctx.db.query(`CREATE TRIGGER block_claims BEFORE INSERT ON alert_partition_owners
                          FOR EACH STATEMENT EXECUTE FUNCTION block_claims()`);
    const alerter = await ctx.start('alerter');
    try {
      await blockedClaims(alerter);
    } finally {
      await ctx.db.query('DROP TRIGGER IF EXISTS block_claims ON alert_partition_owners');
      await alerter.stop();
    }
  });

  async function blockedClaims(alerter: Runtime): Promise<void> {
    const ruleId = await createRule(alerter, 'blocked cpu', 'blocked_cpu > 80');
    await post('blocked_cpu', 'a', 95);

    const notReady = await waitFor(
      () => readyz(alerter),
      (r) => r.status === 503 && /does not own/.test(r.body.checks.alerter ?? ''),
    );
    expect(notReady.body.status).toBe('not ready');
    expect(notReady.body.checks.postgres).toBe('ok');
    const unowned = alerterOf(alerter).unowned;
    expect([...unowned].sort()).toEqual(
      [
        'aggregations',
        ...[0, 1, 2].map((p) => `${ctx.config.kafka.topics.events}:${p}`),
        ...[0, 1, 2].map((p) => `${metricsTopic()}:${p}`),
      ].sort(),
    );
    expect(notReady.body.checks.alerter).toBe(notOwned(unowned.join(', ')));
    // Several ticks and retries later: still nothing evaluated, nothing stored, nothing claimed.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await instances(ruleId)).toEqual([]);
    expect(await transitions(ruleId)).toBe(0);
    expect((await generations()).size).toBe(0);
    expect(await metric(alerter, 'vigil_alerter_unowned_partitions')).toBe(7);

    await ctx.db.query('DELETE FROM claim_block');
    await waitFor(
      () => readyz(alerter),
      (r) => r.status === 200,
      20_000,
    );
    const [firing] = await waitFor(
      () => instances(ruleId),
      (rows) => rows.length === 1 && rows[0].state === 'firing',
    );
    expect(firing.labels).toEqual({ host: 'a' });
    expect(await transitions(ruleId)).toBe(1);
    await waitFor(
      () => ownsAll(alerter),
      (ok) => ok,
    );
  }

  it('counts changes fenced out by another claim, rejoins, claims again and stores the alert once', async () => {
    const alerter = await ctx.start('alerter');
    await waitFor(
      () => ownsAll(alerter),
      (ok) => ok,
      30_000,
    );
    const logger = (alerterOf(alerter) as unknown as { opts: { logger: Logger } }).opts.logger;
    const warn = vi.spyOn(logger, 'warn');
    const ruleId = await createRule(alerter, 'fenced cpu', 'fenced_cpu > 80');
    const partition = keyPartition(seriesFingerprint('fenced_cpu', { host: 'b' }), PARTITIONS);
    const label = `${metricsTopic()}:${partition}`;
    // Another member's claim of the series' partition, as a zombie or a member that rejoined would make it.
    const stolen = await steal(metricsTopic(), partition);
    await post('fenced_cpu', 'b', 95);

    // The firing was evaluated and fenced out: counted (the upsert and the transition), and not ready.
    await waitFor(
      () => metric(alerter, 'vigil_alerter_fenced_changes_total', { partition: label }),
      (n) => n === 2,
    );
    expect(await instances(ruleId)).toEqual([]);
    const lost = await readyz(alerter);
    expect([lost.status, lost.body.checks.alerter]).toEqual([503, notOwned(label)]);
    const fencedWarnings = () =>
      warn.mock.calls.filter((call) => String(call[1]).startsWith('alert state changes fenced out'));
    const warned = fencedWarnings().map((call) => ({ ...(call[0] as object) }));
    expect(warned).toEqual([{ partition: label, generation: expect.any(String), dropped_changes: 2 }]);
    expect((fencedWarnings()[0][0] as { generation: string }).generation).not.toBe(stolen);

    // Rejoined and claimed again: the partition is re-read and the alert stored, once, and notified once.
    const [firing] = await waitFor(
      () => instances(ruleId),
      (rows) => rows[0]?.state === 'firing',
      30_000,
    );
    expect(await instances(ruleId)).toHaveLength(1);
    expect(firing.labels).toEqual({ host: 'b' });
    await waitFor(
      () => ownsAll(alerter),
      (ok) => ok,
      20_000,
    );
    expect((await readyz(alerter)).status).toBe(200);
    expect(await transitions(ruleId)).toBe(1);
    const ofRule = async () => sink.requests.map((r) => JSON.parse(r.body)).filter((b) => b.rule.id === ruleId);
    const notified = await waitFor(ofRule, (n) => n.length === 1);
    expect(notified.map((n) => [n.status, n.alerts.map((a: { labels: { host: string } }) => a.labels.host)])).toEqual([
      ['firing', ['b']],
    ]);
    expect(await metric(alerter, 'vigil_alerter_fenced_changes_total', { partition: label })).toBe(2);
    expect(fencedWarnings()).toHaveLength(1);
    warn.mockRestore();
    await alerter.stop();
  });

  it("the self-check finds a generation that is not the member's and repairs it", async () => {
    const alerter = await ctx.start('alerter');
    await waitFor(
      () => ownsAll(alerter),
      (ok) => ok,
      30_000,
    );
    const eventsPartition = `${ctx.config.kafka.topics.events}:1`;
    const stolen = await steal(ctx.config.kafka.topics.events, 1);
    // Nothing is saved for that partition (no data), so only the self-check can notice; then rejoin and claim.
    await waitFor(
      async () => (await generations()).get(eventsPartition),
      (g) => g !== stolen,
      40_000,
    );
    await waitFor(
      () => ownsAll(alerter),
      (ok) => ok,
      20_000,
    );
    expect((await readyz(alerter)).status).toBe(200);
    expect(await metric(alerter, 'vigil_alerter_fenced_changes_total', { partition: eventsPartition })).toBe(0);

    // And it evaluates again: a new alert is stored once.
    const ruleId = await createRule(alerter, 'checked cpu', 'checked_cpu > 80');
    await post('checked_cpu', 'c', 95);
    await waitFor(
      () => instances(ruleId),
      (r) => r.length === 1 && r[0].state === 'firing',
    );
    expect(await transitions(ruleId)).toBe(1);
    await alerter.stop();
  });
});
