/**
 * Alert → incident → resolution end to end through the real Kafka broker: metric samples posted to the gateway
 * reach the alerter, its transitions reach the incidents worker (inbox trigger, migration 0005), which opens an
 * incident with the rule's severity, moves it to monitoring when the alert resolves (rule annotation
 * incident_on_resolve), attaches a new firing of the same series to it, runs the automatic analysis once, and
 * never duplicates anything under redelivery (inbox rows put back), restart, or a second worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import type { IncidentsHandle } from '../services/incidents/index.ts';
import { createTestContext, countRows, waitFor, type TestContext } from './helpers/context.ts';

describe('incidents opened and resolved by alerts, through Kafka', () => {
  let ctx: TestContext;
  let api: Runtime;
  let ruleId: string;

  beforeAll(async () => {
    ctx = await createTestContext({
      ALERTER_TICK_MS: '200',
      INCIDENTS_POLL_MS: '200',
      QUERY_FOLD_INTERVAL_SECONDS: '3600',
    });
    api = await ctx.start('gateway,writer,query,alerter');
  });
  afterAll(() => ctx?.cleanup());

  const call = (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: unknown) =>
    api.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const moderator = () => ctx.token('moderator', 'mod');
  const postQueueDepth = async (value: number) => {
    const res = await call('POST', '/api/v1/monitoring/metrics', ctx.token('user', 'svc'), {
      name: 'queue_depth',
      metric_type: 'gauge',
      value,
      labels: { service: 'payments' },
    });
    expect(res.statusCode).toBe(202);
  };
  const incidents = async () => (await call('GET', '/api/v1/monitoring/incidents', moderator())).json().data;
  const timeline = async (id: string) =>
    (await call('GET', `/api/v1/monitoring/incidents/${id}/timeline`, moderator())).json().data.entries;

  it("opens an incident with the rule's severity when the alert fires, to monitoring when it resolves", async () => {
    const rule = await call('POST', '/api/v1/monitoring/alerts', moderator(), {
      name: 'Payments queue backing up',
      description: 'queue_depth above 100',
      query: 'queue_depth > 100',
      severity: 'critical',
      annotations: { incident_on_resolve: 'monitoring' },
    });
    expect(rule.statusCode, rule.body).toBe(201);
    ruleId = rule.json().data.id;

    await postQueueDepth(250);
    const [opened] = await waitFor(incidents, (list) => list.length === 1);
    expect(opened).toMatchObject({
      title: 'Payments queue backing up {service="payments"}',
      description: 'queue_depth above 100',
      severity: 'critical',
      status: 'open',
      created_by: 'vigil-alerter',
      alert: { rule_id: ruleId, fingerprint: expect.any(String) },
      resolved_at: null,
    });
    const [transition] = (await ctx.db.query("SELECT at FROM alert_transitions WHERE to_state = 'firing'")).rows;
    expect(opened.started_at).toBe(transition.at.toISOString());

    await postQueueDepth(10);
    const monitoring = await waitFor(
      async () => (await call('GET', `/api/v1/monitoring/incidents/${opened.id}`, moderator())).json().data,
      (i) => i.status === 'monitoring',
    );
    expect(monitoring.resolved_at).toBeNull();

    const entries = await waitFor(
      () => timeline(opened.id),
      (e) => e.some((x: { type?: string }) => x.type === 'analysis'),
    );
    const changes = entries
      .filter((e: { kind: string }) => e.kind === 'change')
      .map((e: { type: string; actor: string; message: string }) => [e.type, e.actor, e.message]);
    expect(changes).toEqual(
      expect.arrayContaining([
        ['created', 'vigil-alerter', 'incident opened (critical): Payments queue backing up {service="payments"}'],
        [
          'alert_opened',
          'vigil-alerter',
          'opened by alert Payments queue backing up {service="payments"} firing (value 250)',
        ],
        ['alert_resolved', 'vigil-alerter', 'alert Payments queue backing up {service="payments"} resolved'],
        [
          'status',
          'vigil-alerter',
          'status open → monitoring (the alert resolved; rule annotation incident_on_resolve=monitoring)',
        ],
        ['analysis', 'vigil', expect.stringMatching(/^root-cause analysis: /)],
      ]),
    );
    expect(changes).toHaveLength(5);
    const alerts = entries
      .filter((e: { kind: string }) => e.kind === 'alert')
      .map((e: { from: string; to: string }) => `${e.from}→${e.to}`);
    expect(alerts).toEqual(['inactive→firing', 'firing→resolved']);
    // The alert events reach the events table through the writer; those of the incident's own series are shown as
    // transitions.
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE event_type = 'alert'"),
      (n) => n === 2,
    );
    expect((await timeline(opened.id)).filter((e: { kind: string }) => e.kind === 'event')).toEqual([]);
    const analysis = (await call('GET', `/api/v1/monitoring/incidents/${opened.id}/analysis`, moderator())).json().data;
    expect(analysis).toMatchObject({ incident_id: opened.id, trigger: 'open', id: expect.any(Number) });
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_analyses')).toBe(1);

    const stats = (await call('GET', '/api/v1/monitoring/stats', moderator())).json().data;
    expect(stats.open_incidents).toBe(1);
  });

  it('attaches a new firing of the same series to the unresolved incident instead of opening another', async () => {
    await postQueueDepth(300);
    await waitFor(
      () =>
        countRows(
          ctx.db,
          'SELECT count(*) AS n FROM incident_transitions t JOIN alert_transitions a ON a.id = t.transition_id WHERE ' +
            "a.to_state = 'firing'",
        ),
      (n) => n === 2,
    );
    const list = await incidents();
    expect(list).toHaveLength(1);
    const changes = (await timeline(list[0].id))
      .filter((e: { kind: string }) => e.kind === 'change')
      .map((e: { type: string }) => e.type);
    expect(changes.filter((t: string) => t === 'alert_firing')).toHaveLength(1);
  });

  it('applies nothing twice: transitions put back in the inbox, a restart, and a second worker', async () => {
    const before = {
      incidents: await countRows(ctx.db, 'SELECT count(*) AS n FROM incidents'),
      entries: await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_timeline'),
      links: await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_alerts'),
    };
    await api.stop();
    // Redelivery: every applied transition back in the inbox.
    await ctx.db.query('INSERT INTO incident_inbox (transition_id) SELECT transition_id FROM incident_transitions');
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_inbox')).toBe(3);
    // Restart, with two processes running the worker.
    api = await ctx.start('gateway,writer,query,alerter');
    const second = await ctx.start('query');
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM incident_inbox'),
      (n) => n === 0,
    );
    await second.stop();
    expect({
      incidents: await countRows(ctx.db, 'SELECT count(*) AS n FROM incidents'),
      entries: await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_timeline'),
      links: await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_alerts'),
    }).toEqual(before);

    // The alert resolves after the restart (its state was durable): the same incident gets the entry.
    await postQueueDepth(5);
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM incident_timeline WHERE kind = 'alert_resolved'"),
      (n) => n === 2,
    );
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM incidents')).toBe(1);

    // The database itself refuses a second unresolved incident for one alert series.
    const [{ alert_rule_id, alert_fingerprint }] = (
      await ctx.db.query('SELECT alert_rule_id, alert_fingerprint FROM incidents')
    ).rows;
    await expect(
      ctx.db.query(
        `INSERT INTO incidents (id, title, severity, created_by, alert_rule_id, alert_fingerprint, started_at) ` +
          `VALUES (gen_random_uuid(), 'dup', 'low', 'x', $1, $2, now())`,
        [alert_rule_id, alert_fingerprint],
      ),
    ).rejects.toThrow(/incidents_open_alert_series_idx/);
  });

  it('analyses a manually opened incident once, automatically', async () => {
    const created = await call('POST', '/api/v1/monitoring/incidents', ctx.token('user', 'dev'), {
      title: 'Slow checkout',
      severity: 'low',
    });
    const id = created.json().data.id;
    const analysed = await waitFor(
      () =>
        countRows(ctx.db, "SELECT count(*) AS n FROM incident_timeline WHERE incident_id = $1 AND kind = 'analysis'", [
          id,
        ]),
      (n) => n === 1,
    );
    expect(analysed).toBe(1);
    // Three more rounds of the worker, run here rather than waited for: still once.
    const worker = (api.roles.find((r) => r.name === 'incidents') as IncidentsHandle).worker;
    for (let round = 0; round < 3; round++) await worker.poll();
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_analyses WHERE incident_id = $1', [id])).toBe(1);
    const analysis = (await call('GET', `/api/v1/monitoring/incidents/${id}/analysis`, ctx.token('user', 'dev'))).json()
      .data;
    expect(analysis).toMatchObject({ incident_id: id, trigger: 'open', suspects: expect.any(Array) });
    expect(
      (await call('PUT', `/api/v1/monitoring/incidents/${id}`, ctx.token('user', 'dev'), { status: 'closed' }))
        .statusCode,
    ).toBe(409);
    expect(
      (await call('PUT', `/api/v1/monitoring/incidents/${id}`, ctx.token('user', 'dev'), { status: 'resolved' }))
        .statusCode,
    ).toBe(200);
  });

  it('opens a new incident when the series fires after its incident was resolved', async () => {
    const incident = (await incidents()).find((i: { created_by: string }) => i.created_by === 'vigil-alerter');
    expect(
      (
        await call('PUT', `/api/v1/monitoring/incidents/${incident.id}`, moderator(), {
          status: 'resolved',
          root_cause: 'consumer stuck',
        })
      ).statusCode,
    ).toBe(200);
    await postQueueDepth(400);
    const list = (
      await waitFor(
        incidents,
        (l) => l.filter((i: { created_by: string }) => i.created_by === 'vigil-alerter').length === 2,
      )
    ).filter((i: { created_by: string }) => i.created_by === 'vigil-alerter');
    expect(list.map((i: { status: string }) => i.status).sort()).toEqual(['open', 'resolved']);
    // Reopening the old one now would give the series two unresolved incidents: 409.
    const reopen = await call('PUT', `/api/v1/monitoring/incidents/${incident.id}`, moderator(), {
      status: 'investigating',
    });
    expect(reopen.statusCode).toBe(409);
    expect(reopen.json().error.code).toBe('VIGIL_ERR_CONFLICT');
  });
});
