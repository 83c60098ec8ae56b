/**
 * One rule over a metric with 20,000 label sets, through the real pipeline (gateway → Kafka → alerter and writer →
 * PostgreSQL, a real webhook receiver): the alerter holds at most ALERTER_MAX_INSTANCES_PER_RULE instances and fires
 * ONE cardinality_exceeded alert for the rest (API, history, notification, metric); the rule's alerts make ONE
 * incident and ONE grouped webhook notification per window; the alert events stay bounded; the API pages the
 * instances; when everything drops, one grouped resolution, and the incident resolves once its last alert does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import type { Alerter } from '../services/alerter/alerter.ts';
import { createTestContext, countRows, waitFor, type TestContext } from './helpers/context.ts';
import { startHttpSink, type HttpSink } from './helpers/webhook-sink.ts';

const SERIES = 20_000;
/** Small, so that the incident worker's per-alert work stays a few seconds on a loaded machine. */
const CAP = 50;
const PER_REQUEST = 5000;
const BASE = '/api/v1/monitoring/alerts';

interface GroupedBody {
  version: number;
  status: string;
  group_key: string;
  counts: { firing: number; resolved: number };
  alerts: { status: string; labels: Record<string, string>; value: number }[];
  truncated_alerts: number;
}

describe(`one rule over ${SERIES} label sets`, () => {
  let ctx: TestContext;
  let api: Runtime;
  let sink: HttpSink;
  let alerter: Alerter;

  beforeAll(async () => {
    sink = await startHttpSink();
    ctx = await createTestContext({
      // The default tick: evaluating 20,000 series every 200 ms would leave the one process little else to do.
      ALERTER_TICK_MS: '1000',
      INCIDENTS_POLL_MS: '200',
      ALERTER_MAX_INSTANCES_PER_RULE: String(CAP),
      // Wide enough that the rule's firings (all in the alerter's first batches) share one window under load.
      ALERTER_NOTIFY_GROUP_WAIT_MS: '3000',
      ALERTER_WEBHOOK_URL: sink.url,
      // The writer's own bound is proven in services/writer/series-limit.int.test.ts; here it stores all 20,000 series
      // unlimited, so that registering them does not slow this test down.
      METRICS_MAX_SERIES_PER_NAME: '0',
      QUERY_FOLD_INTERVAL_SECONDS: '3600',
      // Batches as the writer's default makes them (the tests' 50 ms makes many small ones).
      WRITER_BATCH_MAX_WAIT_MS: '200',
    });
    api = await ctx.start('gateway,writer,query,alerter');
    alerter = (api.roles.find((r) => r.name === 'alerter') as unknown as { alerter: Alerter }).alerter;
  });
  afterAll(async () => {
    await ctx?.cleanup();
    await sink?.close();
  });

  const call = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const res = await api.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${ctx.token('admin', 'ops')}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return res;
  };
  const postAll = async (value: number) => {
    for (let from = 0; from < SERIES; from += PER_REQUEST) {
      const metrics = Array.from({ length: PER_REQUEST }, (_, i) => ({
        name: 'cpu_usage',
        metric_type: 'gauge',
        value,
        labels: { host: `h${from + i}` },
      }));
      const res = await call('POST', '/api/v1/monitoring/metrics', { metrics });
      expect(res.statusCode, res.body).toBe(202);
    }
  };
  const bodies = () => sink.requests.map((r) => JSON.parse(r.body) as GroupedBody);
  const counter = async (name: string) =>
    (await api.registry.getSingleMetric(name)!.get()).values.reduce((sum, v) => sum + v.value, 0);

  it('caps the instances, fires one cardinality alert, opens one incident and sends one grouped notification', {
    timeout: 120_000,
  }, async () => {
    const created = await call('POST', BASE, {
      name: 'Hot CPU',
      query: 'cpu_usage > 80',
      severity: 'high',
      annotations: { incident_on_resolve: 'resolved' },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().data.id;
    await postAll(90);

    // The alerter holds CAP instances and the cardinality alert, no more.
    await waitFor(
      async () => alerter.engine.instanceCount,
      (n) => n === CAP + 1,
    );
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM alert_instances WHERE rule_id = $1', [id]),
      (n) => n === CAP + 1,
    );
    // Every sample judged (the refusals of the whole set are counted on the tick), and still capped.
    await waitFor(
      () => counter('vigil_alerter_instances_refused_total'),
      (n) => n >= SERIES - CAP,
    );
    expect(alerter.engine.instanceCount).toBe(CAP + 1);

    // The API: counts of all instances, one page of them, and the cardinality alert among them.
    const rule = (await call('GET', `${BASE}/${id}?instances_limit=20`)).json().data;
    expect(rule).toMatchObject({
      state: 'firing',
      active_instance_count: CAP + 1,
      firing_instance_count: CAP + 1,
      active_instances_offset: 0,
      active_instances_has_more: true,
    });
    expect(rule.active_instances).toHaveLength(20);
    const all = (await call('GET', `${BASE}/${id}`)).json().data; // the default page: 100
    expect([all.active_instances.length, all.active_instances_has_more]).toEqual([CAP + 1, false]);
    const overflow = all.active_instances.filter(
      (i: { labels: Record<string, string> }) => i.labels.vigil_alert === 'cardinality_exceeded',
    );
    expect(overflow).toEqual([
      {
        labels: { vigil_alert: 'cardinality_exceeded' },
        state: 'firing',
        value: expect.any(Number),
        active_at: expect.any(String),
        fired_at: expect.any(String),
      },
    ]);
    expect(overflow[0].value).toBeGreaterThan(0);
    const last = (await call('GET', `${BASE}/${id}?instances_limit=10&instances_offset=${CAP}`)).json().data;
    expect([last.active_instances.length, last.active_instances_offset, last.active_instances_has_more]).toEqual([
      1,
      CAP,
      false,
    ]);
    const listed = (await call('GET', `${BASE}?instances_limit=5`)).json().data;
    expect(
      listed.map((r: { active_instances: unknown[]; active_instance_count: number }) => [
        r.active_instances.length,
        r.active_instance_count,
      ]),
    ).toEqual([[5, CAP + 1]]);
    const bad = await call('GET', `${BASE}/${id}?instances_limit=0`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details).toEqual([
      { field: 'instances_limit', message: 'must be an integer from 1 to 1000, got 0' },
    ]);
    const history = (await call('GET', `${BASE}/${id}/history?limit=1000`)).json().data;
    expect(history).toHaveLength(CAP + 1);
    expect(
      history
        .filter((h: { labels: Record<string, string> }) => h.labels.vigil_alert === 'cardinality_exceeded')
        .map((h: { from: string; to: string }) => `${h.from}→${h.to}`),
    ).toEqual(['inactive→firing']);

    // ONE grouped webhook POST with every alert of the rule, the cardinality alert included.
    await waitFor(
      async () => countRows(ctx.db, 'SELECT count(*) AS n FROM alert_transitions WHERE delivered_at IS NULL'),
      (n) => n === 0,
    );
    expect(sink.requests).toHaveLength(1);
    const [fired] = bodies();
    expect([
      fired.version,
      fired.status,
      fired.group_key,
      fired.counts,
      fired.alerts.length,
      fired.truncated_alerts,
    ]).toEqual([2, 'firing', id, { firing: CAP + 1, resolved: 0 }, CAP + 1, 0]);
    expect(fired.alerts.filter((a) => a.labels.vigil_alert === 'cardinality_exceeded')).toHaveLength(1);

    // Alert events: one per alert of the rule (at most 100 per group, then one summary: notify/dispatcher.test.ts).
    const events = await waitFor(
      async () => (await ctx.db.query("SELECT message FROM events WHERE event_type = 'alert' ORDER BY message")).rows,
      (rows) => rows.length === CAP + 1,
    );
    const [overflowEvent, ...others] = [...events].reverse(); // ':' sorts after ' '
    expect(overflowEvent.message).toMatch(
      new RegExp(
        String.raw`^\[FIRING\] Hot CPU: cardinality exceeded, \d+ result series got no alert ` +
          String.raw`\(ALERTER_MAX_INSTANCES_PER_RULE reached\)$`,
      ),
    );
    expect(new Set(others.map((e) => e.message))).toEqual(new Set(['[FIRING] Hot CPU (value 90)']));

    // ONE incident gathers them: opened by the first alert, the others joined it.
    const incidents = await waitFor(
      async () => (await call('GET', '/api/v1/monitoring/incidents')).json().data,
      (list: { id: string }[]) => list.length === 1,
      60_000,
    );
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM incident_inbox'),
      (n) => n === 0,
    );
    expect((await call('GET', '/api/v1/monitoring/incidents')).json().data).toHaveLength(1);
    expect(
      await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_alerts WHERE incident_id = $1', [incidents[0].id]),
    ).toBe(CAP + 1);
    expect(
      await countRows(
        ctx.db,
        "SELECT count(*) AS n FROM incident_timeline WHERE incident_id = $1 AND kind = 'alert_joined'",
        [incidents[0].id],
      ),
    ).toBe(CAP);
    // The writer stored every sample.
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM metrics WHERE name = 'cpu_usage'"),
      (n) => n === SERIES,
      40_000,
    );
  });

  it('resolves everything in one grouped notification; the incident resolves with its last alert', async () => {
    await postAll(10);
    await waitFor(
      async () => alerter.engine.instanceCount,
      (n) => n === 0,
      40_000,
    );
    const resolved = await waitFor(
      async () => bodies().filter((b) => b.status === 'resolved'),
      (list) => list.length === 1,
    );
    expect([resolved[0].counts, resolved[0].alerts.length]).toEqual([{ firing: 0, resolved: CAP + 1 }, CAP + 1]);
    expect(sink.requests).toHaveLength(2);
    const [incident] = await waitFor(
      async () => (await call('GET', '/api/v1/monitoring/incidents')).json().data,
      (list: { id: string; status: string }[]) => list.length === 1 && list[0].status === 'resolved',
    );
    const { rows } = await ctx.db.query(
      "SELECT message FROM incident_timeline WHERE incident_id = $1 AND kind = 'status'",
      [incident.id],
    );
    expect(rows).toEqual([
      {
        message:
          `status open → resolved (all ${CAP + 1} alerts of the incident resolved; rule annotation ` +
          `incident_on_resolve=resolved)`,
      },
    ]);
  });
});
