/**
 * Alerter partition ownership under faults, with real processes (SIGSTOP/SIGCONT), the real broker and PostgreSQL.
 * Each scenario ends the same way: a rule created after the fault, samples above its threshold on a series of
 * every metrics partition, and within 10 s of the member's recovery every alert series is firing in the API, has
 * its incident open and exactly one webhook notification.
 *
 * 1. The stalled all-in-one member: stopped past its session while a second alerter joins, claims every partition
 *    and leaves; resumed, it rejoins with the same assignment, and must claim again rather than keep its stale
 *    generations (whose saves the fence would drop, silently before).
 * 2. A claim that fails once, on a PostgreSQL connection dropped in the middle of it, at a rebalance: retried.
 * 3. Two alerters, one paused past the session timeout and resumed: the group splits again and both own theirs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { keyPartition } from '../../shared/kafka/partitioner.ts';
import { seriesFingerprint } from '../../shared/schemas/metric.ts';
import { createTestContext, countRows, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { startHttpSink, type HttpSink } from '../../test/helpers/webhook-sink.ts';
import { freePort, spawnVigil, type VigilProcess } from '../../test/helpers/process.ts';

const SESSION_TIMEOUT_MS = 6000;
const RECOVERY_BUDGET_MS = 10_000;
const PARTITIONS = 3;
const ENV = {
  ALERTER_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
  WRITER_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
  ALERTER_TICK_MS: '200',
  INCIDENTS_POLL_MS: '200',
  KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
  LOG_LEVEL: 'warn',
};

interface Member {
  proc: VigilProcess;
  base: string;
}

describe('alerter ownership under faults', () => {
  let ctx: TestContext | undefined;
  let sink: HttpSink | undefined;
  const members: Member[] = [];

  afterEach(async () => {
    for (const m of members.splice(0)) {
      m.proc.child.kill('SIGCONT');
      m.proc.child.kill('SIGKILL');
      await m.proc.exited;
    }
    await ctx?.cleanup();
    await sink?.close();
  });

  async function setup(): Promise<TestContext> {
    sink = await startHttpSink();
    ctx = await createTestContext({ ...ENV, ALERTER_WEBHOOK_URL: sink.url });
    return ctx;
  }

  async function start(role: string): Promise<Member> {
    const port = await freePort();
    const proc = spawnVigil(role, { ...ctx!.env, PORT: String(port) });
    const member = { proc, base: `http://127.0.0.1:${port}` };
    members.push(member);
    return member;
  }

  const readyz = async (m: Member): Promise<number> => {
    try {
      return (await fetch(`${m.base}/readyz`)).status;
    } catch {
      return 0;
    }
  };
  const until = (what: string, m: Member[], probe: () => Promise<boolean>, timeoutMs = 60_000) =>
    waitFor(probe, (ok) => ok, timeoutMs).catch((error) => {
      const outputs = m.map((x) => x.proc.output()).join('\n-----\n');
      throw new Error(`${what}: ${(error as Error).message}\n${outputs}`);
    });
  const ownerGenerations = async () => {
    const sql = `SELECT topic || ':' || partition AS k, generation FROM alert_partition_owners ORDER BY 1`;
    return (await ctx!.db.query<{ k: string; generation: string }>(sql)).rows;
  };
  const snapshot = async () => new Map((await ownerGenerations()).map((r) => [r.k, r.generation]));
  /** Topic partitions (both topics) and the aggregations' pseudo-partition. */
  const OWNER_ROWS = 2 * PARTITIONS + 1;
  /** Every owner row has a generation other than in `before` (all claimed anew), and `ready` are ready. */
  const allClaimedSince = (before: Map<string, string>, ready: Member[]) => async () => {
    const rows = await ownerGenerations();
    if (rows.length !== OWNER_ROWS || rows.some((r) => r.generation === before.get(r.k))) return false;
    for (const m of ready) if ((await readyz(m)) !== 200) return false;
    return true;
  };
  const startedAlone = (a: Member) =>
    until('all-in-one ready', [a], async () => (await readyz(a)) === 200 && (await snapshot()).size === OWNER_ROWS);

  /** One host per metrics partition, so that every partition has an alert series to evaluate. */
  function hostsOnEveryPartition(metric: string): string[] {
    const hosts = new Map<number, string>();
    for (let i = 0; hosts.size < PARTITIONS; i++) {
      const host = `h${i}`;
      const p = keyPartition(seriesFingerprint(metric, { host }), PARTITIONS);
      if (!hosts.has(p)) hosts.set(p, host);
    }
    return [...hosts.values()];
  }

  interface RuleBody {
    state: string;
    active_instances: { state: string; labels: Record<string, string> }[];
  }
  /** The webhook's grouped notification: one per rule and group window, listing its alerts. */
  interface Notification {
    status: string;
    rule: { id: string };
    alerts: { status: string; labels: Record<string, string> }[];
  }

  /** The rule, the samples, then: firing in the API, incidents open, one notification per series — in budget. */
  async function expectAlertsAfter(recoveredAt: number, member: Member, observers: Member[]): Promise<void> {
    const c = ctx!;
    const metric = `fence_cpu_${c.id}`;
    const hosts = hostsOnEveryPartition(metric);
    const request = (method: string, url: string, role: 'user' | 'moderator', body?: unknown) =>
      fetch(`${member.base}${url}`, {
        method,
        headers: { authorization: `Bearer ${c.token(role)}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const body = { name: 'fence cpu', query: `${metric} > 80` };
    const created = await request('POST', '/api/v1/monitoring/alerts', 'moderator', body);
    expect(created.status).toBe(201);
    const ruleId = ((await created.json()) as { data: { id: string } }).data.id;
    const items = hosts.map((host) => ({ name: metric, metric_type: 'gauge', value: 95, labels: { host } }));
    expect((await request('POST', '/api/v1/monitoring/metrics', 'user', items)).status).toBe(202);

    const rule = async () => {
      const res = await request('GET', `/api/v1/monitoring/alerts/${ruleId}`, 'user');
      return ((await res.json()) as { data: RuleBody }).data;
    };
    const notifications = () =>
      sink!.requests.map((n) => JSON.parse(n.body) as Notification).filter((n) => n.rule.id === ruleId);
    const incidents = () =>
      countRows(c.db, `SELECT count(*) AS n FROM incidents WHERE alert_rule_id = $1 AND status = 'open'`, [ruleId]);
    const deadline = RECOVERY_BUDGET_MS + 20_000;
    await until(
      'alerts firing in the API',
      observers,
      async () => {
        const r = await rule();
        const all = r.active_instances;
        return r.state === 'firing' && all.length === hosts.length && all.every((i) => i.state === 'firing');
      },
      deadline,
    );
    // Incidents and notifications are grouped per rule: one incident gathers the rule's alerts, and the webhook
    // lists them in grouped notifications.
    const alertsSent = () => notifications().flatMap((n) => n.alerts.map((a) => [a.status, a.labels.host]));
    await until('incident open', observers, async () => (await incidents()) === 1, deadline);
    await until('notifications sent', observers, async () => alertsSent().length === hosts.length, deadline);
    const took = Date.now() - recoveredAt;
    const said = `alerts visible, incidents open and notified ${took} ms after the recovery`;
    expect(took, said).toBeLessThanOrEqual(RECOVERY_BUDGET_MS);

    const r = await rule();
    expect(r.active_instances.map((i) => i.labels.host).sort()).toEqual([...hosts].sort());
    const { rows: transitions } = await c.db.query(
      "SELECT labels->>'host' AS host, from_state, to_state FROM alert_transitions WHERE rule_id = $1 ORDER BY 1, id",
      [ruleId],
    );
    const byHost = (a: { host: string }, b: { host: string }) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0);
    expect([...transitions].sort(byHost)).toEqual(
      hosts.map((host) => ({ host, from_state: 'inactive', to_state: 'firing' })).sort(byHost),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000)); // a duplicate notification would arrive by now
    expect(alertsSent().sort()).toEqual(hosts.map((h) => ['firing', h]).sort());
    expect(await incidents()).toBe(1);
    // Every member that runs the alerter owns what it holds again.
    for (const m of observers) expect(await readyz(m)).toBe(200);
  }

  it('a member stalled past its session while another claimed everything claims again on rejoining', async () => {
    await setup();
    const a = await start('all');
    await startedAlone(a);
    const before = await snapshot();

    a.proc.child.kill('SIGSTOP');
    const b = await start('alerter');
    // B owns everything once A's session expired: every generation is B's.
    await until('second alerter claims every partition', [b], allClaimedSince(before, [b]));
    b.proc.child.kill('SIGTERM');
    expect(await b.proc.exited).toBe('0');

    a.proc.child.kill('SIGCONT');
    const recoveredAt = Date.now();
    await expectAlertsAfter(recoveredAt, a, [a]);
  });

  it('a claim that fails on a dropped PostgreSQL connection at a rebalance is retried', async () => {
    const c = await setup();
    const a = await start('all');
    await startedAlone(a);
    // The next claim (whoever makes it) loses its connection in the middle: its backend terminates itself. A
    // sequence, not a table, counts the claims: it is not rolled back with the claim's transaction.
    await c.db.query(`CREATE SEQUENCE fault_claims`);
    await c.db.query(`
      CREATE FUNCTION drop_first_claim() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('fault_claims') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
        RETURN NULL;
      END $$`);
    await c.db.query(`CREATE TRIGGER drop_first_claim BEFORE INSERT ON alert_partition_owners
                        FOR EACH STATEMENT EXECUTE FUNCTION drop_first_claim()`);
    const claims = async () => {
      const sql = `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM fault_claims`;
      return Number((await c.db.query<{ n: string }>(sql)).rows[0].n);
    };

    const b = await start('alerter');
    await until('a claim failed', [a, b], async () => (await claims()) >= 1);
    const recoveredAt = Date.now();
    // Retried: more claims follow the one that failed, and both members end up owning theirs.
    const bothOwn = async () => (await claims()) >= 2 && (await readyz(a)) === 200 && (await readyz(b)) === 200;
    await until('both members own their partitions', [a, b], bothOwn, 30_000);
    expect(a.proc.output() + b.proc.output()).toContain('could not claim the assigned alerter partitions');
    await expectAlertsAfter(recoveredAt, a, [a, b]);
  });

  it('two alerters, one paused past the session timeout: after it resumes both own their share', async () => {
    await setup();
    const a = await start('all');
    await startedAlone(a);
    const alone = await snapshot();
    const b = await start('alerter');
    // Once B joined, both claimed what the new generation of the group gave them: every generation is new.
    await until('the two alerters split the partitions', [a, b], allClaimedSince(alone, [a, b]));
    const shared = await snapshot();

    b.proc.child.kill('SIGSTOP');
    // A takes B's partitions once B's session expired, and claims its own again: every generation is new.
    await until("the running alerter claims the paused one's partitions", [a], allClaimedSince(shared, [a]));
    b.proc.child.kill('SIGCONT');
    const recoveredAt = Date.now();
    await expectAlertsAfter(recoveredAt, a, [a, b]);
  });
});
