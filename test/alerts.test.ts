/**
 * The alert rule API and the contract's example end to end: a rule created over HTTP, metric samples posted to the
 * gateway, through the real Kafka broker to the alerter (and the writer), pending → firing after `for`, the alert
 * event stored in the events table, the signed webhook, then resolved when the value drops.
 */
import crypto from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { keyPartition } from '../shared/kafka/partitioner.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { seriesFingerprint } from '../shared/schemas/metric.ts';
import { createTestContext, countRows, waitFor, type TestContext } from './helpers/context.ts';
import { startHttpSink, type HttpSink } from './helpers/webhook-sink.ts';

const BASE = '/api/v1/monitoring/alerts';
const codecs = loadCodecs();

describe('alert rules and the contract example end to end', () => {
  let ctx: TestContext;
  let api: Runtime;
  let sink: HttpSink;
  const secret = 'webhook-secret-for-tests';

  beforeAll(async () => {
    sink = await startHttpSink();
    ctx = await createTestContext({
      ALERTER_TICK_MS: '200',
      ALERTER_NOTIFY_GROUP_WAIT_MS: '500',
      ALERTER_WEBHOOK_URL: sink.url,
      ALERTER_WEBHOOK_SECRET: secret,
    });
    api = await ctx.start('gateway,writer,alerter');
  });
  afterAll(async () => {
    await ctx?.cleanup();
    await sink?.close();
  });

  const call = (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    role: 'user' | 'moderator' | 'admin',
    payload?: unknown,
  ) =>
    api.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${ctx.token(role, `${role}-sub`)}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  const postCpu = async (value: number) => {
    const res = await call('POST', '/api/v1/monitoring/metrics', 'user', {
      name: 'cpu_usage',
      metric_type: 'gauge',
      value,
      labels: { host: 'web-1' },
    });
    expect(res.statusCode).toBe(202);
  };

  it('refuses invalid rules with 400 pointing at the position, and users with 403', async () => {
    const bad = await call('POST', BASE, 'moderator', { name: 'x', query: 'cpu_usage >' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      success: false,
      error: {
        code: 'VIGIL_ERR_VALIDATION',
        message: 'query: unexpected end of query: expected a number after the comparison (at line 1, column 12)',
        details: [
          {
            field: 'query',
            message: 'unexpected end of query: expected a number after the comparison (at line 1, column 12)',
            position: 11,
            line: 1,
            column: 12,
            excerpt: 'cpu_usage >\n           ^',
          },
        ],
      },
    });
    const several = await call('POST', BASE, 'moderator', {
      query: 'rate(x[5m]) > 1',
      for: 'soon',
      severity: 'urgent',
      bogus: 1,
    });
    expect(several.statusCode).toBe(400);
    expect(several.json().error.details.map((d: { field: string }) => d.field)).toEqual([
      'bogus',
      'name',
      'for',
      'severity',
    ]);
    const mismatch = await call('POST', BASE, 'moderator', { name: 'x', query: 'cpu_usage > 80', threshold_value: 90 });
    expect(mismatch.json().error.details).toEqual([
      {
        field: 'threshold_value',
        message: "threshold_value 90 contradicts the query's own threshold 80: give one or make them equal",
      },
    ]);
    const forbidden = await call('POST', BASE, 'user', { name: 'x', query: 'cpu_usage > 80' });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().error.code).toBe('VIGIL_ERR_FORBIDDEN');
    const missing = await call('GET', `${BASE}/${crypto.randomUUID()}`, 'user');
    expect(missing.statusCode).toBe(404);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM alert_rules')).toBe(0);
  });

  it("validates a rule without creating it: 200 if valid, the create's 400 with position, 403 to users", async () => {
    const rule = { name: 'checked', query: 'cpu_usage{host="web-1"} > 80', for: '1m' };
    const ok = await call('POST', `${BASE}/validate`, 'moderator', rule);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ success: true, data: { valid: true } });
    const bad = await call('POST', `${BASE}/validate`, 'moderator', { name: 'checked', query: 'rate(x[5m) > 1' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      success: false,
      error: {
        code: 'VIGIL_ERR_VALIDATION',
        message: 'query: unexpected ")": expected "]" to close the range (at line 1, column 10)',
        details: [
          {
            field: 'query',
            message: 'unexpected ")": expected "]" to close the range (at line 1, column 10)',
            position: 9,
            line: 1,
            column: 10,
            excerpt: 'rate(x[5m) > 1\n         ^',
          },
        ],
      },
    });
    expect((await call('POST', `${BASE}/validate`, 'user', rule)).statusCode).toBe(403);
    const list = await call('GET', BASE, 'user');
    expect(list.json().data.filter((r: { name: string }) => r.name === 'checked')).toEqual([]);
  });

  it('creates, updates, lists and deletes rules (moderator+ writes, any role reads)', async () => {
    const created = await call('POST', BASE, 'moderator', {
      name: 'Disk',
      query: 'disk_free_bytes',
      threshold_value: 10,
      labels: { team: 'ops' },
    });
    expect(created.statusCode).toBe(201);
    const rule = created.json().data;
    expect(rule).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Disk',
      description: null,
      query: 'disk_free_bytes',
      threshold_value: 10,
      for: '0s',
      keep_firing_for: '0s',
      severity: 'medium',
      labels: { team: 'ops' },
      annotations: {},
      enabled: true,
      created_by: 'moderator-sub',
      created_at: expect.any(String),
      updated_at: expect.any(String),
      state: 'inactive',
      active_instances: [],
      active_instance_count: 0,
      firing_instance_count: 0,
      active_instances_offset: 0,
      active_instances_has_more: false,
    });
    const duplicate = await call('POST', BASE, 'admin', { name: 'disk', query: 'x > 1' });
    expect(duplicate.json().error.details).toEqual([
      { field: 'name', message: 'another alert rule already has this name' },
    ]);
    const updated = await call('PUT', `${BASE}/${rule.id}`, 'moderator', {
      for: 90,
      severity: 'critical',
      query: 'disk_free_bytes < 10',
      threshold_value: null,
    });
    expect(updated.statusCode).toBe(200);
    expect(updated.json().data).toMatchObject({
      name: 'Disk',
      for: '1m30s',
      severity: 'critical',
      query: 'disk_free_bytes < 10',
      threshold_value: null,
      labels: { team: 'ops' },
    });
    expect((await call('PUT', `${BASE}/${rule.id}`, 'user', { for: 1 })).statusCode).toBe(403);
    const listed = await call('GET', BASE, 'user');
    expect(listed.json().data.map((r: { id: string }) => r.id)).toEqual([rule.id]);
    expect((await call('GET', `${BASE}/${rule.id}`, 'user')).json().data.severity).toBe('critical');
    expect((await call('DELETE', `${BASE}/${rule.id}`, 'user')).statusCode).toBe(403);
    const deleted = await call('DELETE', `${BASE}/${rule.id}`, 'moderator');
    expect(deleted.json()).toEqual({ success: true, data: { id: rule.id, deleted: true } });
    expect((await call('GET', `${BASE}/${rule.id}`, 'user')).statusCode).toBe(404);
  });

  it('contract example: cpu_usage > 80 for `for` fires, below resolves; alert events, signed webhooks', async () => {
    const created = await call('POST', BASE, 'moderator', {
      name: 'High CPU Usage',
      description: 'CPU usage above 80% for more than 5 minutes',
      query: 'cpu_usage > 80',
      threshold_value: 80.0,
      for: '2s',
      severity: 'high',
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().data.id;
    const get = async () => (await call('GET', `${BASE}/${id}`, 'user')).json().data;

    await postCpu(93);
    const pending = await waitFor(get, (r) => r.state !== 'inactive');
    expect(pending.state).toBe('pending');
    expect(pending.active_instances).toEqual([
      { labels: { host: 'web-1' }, state: 'pending', value: 93, active_at: expect.any(String), fired_at: null },
    ]);
    const pendingSince = Date.parse(pending.active_instances[0].active_at);

    // Keep it above 80; it fires once `for` (2 s) has passed since it went pending, even between samples (tick).
    await postCpu(95);
    const firing = await waitFor(get, (r) => r.state === 'firing', 10_000);
    const firedAt = Date.parse(firing.active_instances[0].fired_at);
    expect(firedAt - pendingSince).toBeGreaterThanOrEqual(2000);
    expect(firedAt - pendingSince).toBeLessThan(4000);
    // The firing goes out when its notification window (ALERTER_NOTIFY_GROUP_WAIT_MS) closes; a resolution within
    // the window would travel in the same POST.
    await waitFor(
      async () => sink.requests.length,
      (n) => n === 1,
    );

    await postCpu(50);
    await waitFor(get, (r) => r.state === 'inactive');
    const history = (await call('GET', `${BASE}/${id}/history`, 'user')).json().data;
    expect(history.map((h: { from: string; to: string; value: number }) => [h.from, h.to, h.value])).toEqual([
      ['firing', 'resolved', 95],
      ['pending', 'firing', 95],
      ['inactive', 'pending', 93],
    ]);

    // The alert events reach the events table through Kafka and the writer.
    const events = await waitFor(
      async () =>
        (
          await ctx.db.query(
            `SELECT source, level, message, tags, payload FROM events WHERE event_type = 'alert' ORDER BY "timestamp"`,
          )
        ).rows,
      (rows) => rows.length === 2,
    );
    expect(events[0]).toMatchObject({
      source: 'vigil-alerter',
      level: 'error',
      message: '[FIRING] High CPU Usage (value 95)',
      tags: { host: 'web-1', alertname: 'High CPU Usage', rule_id: id, status: 'firing', severity: 'high' },
      payload: { rule_id: id, from: 'pending', to: 'firing', value: 95, labels: { host: 'web-1' } },
    });
    expect(events[1]).toMatchObject({
      level: 'info',
      message: '[RESOLVED] High CPU Usage (value 95)',
      tags: { status: 'resolved' },
    });

    // Webhook: firing then resolved, each signed over "<timestamp>.<body>".
    await waitFor(
      async () => sink.requests.length,
      (n) => n === 2,
    );
    for (const request of sink.requests) {
      const expected = crypto
        .createHmac('sha256', secret)
        .update(`${request.headers['x-vigil-timestamp']}.${request.body}`)
        .digest('hex');
      expect(request.headers['x-vigil-signature']).toBe(`sha256=${expected}`);
    }
    const rule = {
      id,
      name: 'High CPU Usage',
      severity: 'high',
      query: 'cpu_usage > 80',
      description: 'CPU usage above 80% for more than 5 minutes',
    };
    const [firingId, resolvedId] = (
      await ctx.db.query("SELECT id FROM alert_transitions WHERE to_state IN ('firing', 'resolved') ORDER BY id")
    ).rows.map((r) => r.id);
    const alert = (status: string, from: string, tid: string) => ({
      id: tid,
      status,
      labels: { host: 'web-1' },
      value: 95,
      active_at: expect.any(String),
      at: expect.any(String),
      from,
    });
    expect(sink.requests.map((r) => JSON.parse(r.body))).toEqual([
      {
        version: 2,
        id: `${firingId}-${firingId}`,
        group_key: id,
        status: 'firing',
        rule,
        annotations: {},
        counts: { firing: 1, resolved: 0 },
        alerts: [alert('firing', 'pending', firingId)],
        truncated_alerts: 0,
      },
      {
        version: 2,
        id: `${resolvedId}-${resolvedId}`,
        group_key: id,
        status: 'resolved',
        rule,
        annotations: {},
        counts: { firing: 0, resolved: 1 },
        alerts: [alert('resolved', 'firing', resolvedId)],
        truncated_alerts: 0,
      },
    ]);
    expect(sink.requests.map((r) => r.headers['x-vigil-delivery'])).toEqual([
      `${firingId}-${firingId}`,
      `${resolvedId}-${resolvedId}`,
    ]);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM alert_transitions WHERE delivered_at IS NULL')).toBe(0);
  });

  it('fires from bundles published to Kafka (a JSON array, an Avro MetricBundle), skipping invalid items', async () => {
    const notified = sink.requests.length;
    const created = await call('POST', BASE, 'moderator', { name: 'Deep queue', query: 'queue_depth > 10' });
    const id = created.json().data.id;
    const series = (queue: string) => seriesFingerprint('queue_depth', { queue });
    const sample = (queue: string, value: number) => ({
      name: 'queue_depth',
      metric_type: 'gauge',
      value,
      labels: { queue },
    });
    const bundle = codecs.get('MetricBundle')!;
    const producer = ctx.kafkajs.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      // Keyed by the series' fingerprint (or sent to the partition it maps to): the partition of the series' owner.
      await producer.send({
        topic: ctx.config.kafka.topics.metrics,
        acks: -1,
        messages: [
          {
            key: series('a'),
            value: JSON.stringify([sample('a', 20), { ...sample('a', 99), name: '2 bad' }, sample('a', 30)]),
            headers: { 'content-type': 'application/json' },
          },
          {
            key: null,
            partition: keyPartition(series('b'), 3),
            value: bundle.encode({
              metrics: [
                { ...sample('b', 50), id: crypto.randomUUID(), timestamp: Date.now(), created_by: null },
                {
                  ...sample('b', 70),
                  metric_type: 'nope',
                  id: crypto.randomUUID(),
                  timestamp: Date.now(),
                  created_by: null,
                },
              ],
            }),
            headers: { 'vigil-schema': bundle.schemaId },
          },
        ],
      });
    } finally {
      await producer.disconnect();
    }
    const rule = await waitFor(
      async () => (await call('GET', `${BASE}/${id}`, 'user')).json().data,
      (r) => r.active_instances.length === 2,
    );
    expect(rule.state).toBe('firing');
    expect([...rule.active_instances].sort((x: { value: number }, y: { value: number }) => x.value - y.value)).toEqual([
      {
        labels: { queue: 'a' },
        state: 'firing',
        value: 30,
        active_at: expect.any(String),
        fired_at: expect.any(String),
      },
      {
        labels: { queue: 'b' },
        state: 'firing',
        value: 50,
        active_at: expect.any(String),
        fired_at: expect.any(String),
      },
    ]);
    // Deleting the rule resolves both: firing and resolved webhooks (grouped per rule), then the next test starts
    // clean.
    expect((await call('DELETE', `${BASE}/${id}`, 'moderator')).statusCode).toBe(200);
    const statuses = () =>
      sink.requests.slice(notified).flatMap((r) => JSON.parse(r.body).alerts.map((a: { status: string }) => a.status));
    await waitFor(
      async () => statuses().length,
      (n) => n === 4,
    );
    expect(statuses().sort()).toEqual(['firing', 'firing', 'resolved', 'resolved']);
  });

  it('resolves the firing alerts of a rule whose query changes or that is deleted, with notifications', async () => {
    const created = await call('POST', BASE, 'moderator', { name: 'Load', query: 'load1 > 2' });
    const id = created.json().data.id;
    const post = (value: number) =>
      call('POST', '/api/v1/monitoring/metrics', 'user', {
        name: 'load1',
        metric_type: 'gauge',
        value,
        labels: { host: 'web-9' },
      });
    expect((await post(5)).statusCode).toBe(202);
    await waitFor(
      async () => (await call('GET', `${BASE}/${id}`, 'user')).json().data.state,
      (s) => s === 'firing',
    );
    const before =
      (await waitFor(
        async () => sink.requests.filter((r) => JSON.parse(r.body).group_key === id).length,
        (n) => n === 1,
      ),
      sink.requests.length);

    // A changed threshold is a new condition: the old alert resolves, the new one (still true) fires again; both
    // in the rule's one notification group of that moment.
    const alerts = () =>
      sink.requests.slice(before).flatMap((r) => JSON.parse(r.body).alerts.map((a: { status: string }) => a.status));
    expect((await call('PUT', `${BASE}/${id}`, 'moderator', { query: 'load1 > 3' })).statusCode).toBe(200);
    await waitFor(
      async () => alerts().length,
      (n) => n === 2,
    );
    expect(alerts()).toEqual(['resolved', 'firing']);
    expect(sink.requests.length).toBe(before + 1);

    // A timing change keeps the alert as it is.
    expect((await call('PUT', `${BASE}/${id}`, 'moderator', { for: '1m', severity: 'critical' })).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 600)); // deliberately several ticks: a notification would have come
    expect(sink.requests.length).toBe(before + 1);
    expect((await call('GET', `${BASE}/${id}`, 'user')).json().data.state).toBe('firing');

    expect((await call('DELETE', `${BASE}/${id}`, 'moderator')).statusCode).toBe(200);
    await waitFor(
      async () => sink.requests.length,
      (n) => n === before + 2,
    );
    expect(JSON.parse(sink.requests[before + 1].body)).toMatchObject({
      status: 'resolved',
      rule: { id, name: 'Load' },
      alerts: [{ status: 'resolved', labels: { host: 'web-9' } }],
    });
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM alert_instances WHERE rule_id = $1', [id])).toBe(0);
    const { rows } = await ctx.db.query(
      'SELECT from_state, to_state FROM alert_transitions WHERE rule_id = $1 ORDER BY id',
      [id],
    );
    expect(rows.map((r) => `${r.from_state}→${r.to_state}`)).toEqual([
      'inactive→firing',
      'firing→resolved',
      'inactive→firing',
      'firing→resolved',
    ]);
  });
});
