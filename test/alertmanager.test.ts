/**
 * The Alertmanager v2 API against a real Alertmanager: a rule fires → the alert is posted to /api/v2/alerts, listed
 * as active with vigil's labels and annotations and routed to a receiver; the value drops → the alert is sent again
 * with endsAt, Alertmanager resolves it and the receiver gets the resolved notification.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { startAlertmanager, type PrivateAlertmanager } from './helpers/alertmanager.ts';
import { createTestContext, waitFor, type TestContext } from './helpers/context.ts';
import { startHttpSink, type HttpSink } from './helpers/webhook-sink.ts';

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: { state: string };
  endsAt: string;
}

describe('Alertmanager', () => {
  let ctx: TestContext;
  let api: Runtime;
  let receiver: HttpSink;
  let am: PrivateAlertmanager;

  beforeAll(async () => {
    receiver = await startHttpSink();
    am = await startAlertmanager(`${receiver.url}/am`);
    ctx = await createTestContext({
      ALERTER_TICK_MS: '200',
      ALERTER_ALERTMANAGER_URL: am.url,
      ALERTER_RESEND_SECONDS: '1',
    });
    api = await ctx.start('gateway,alerter');
  });
  afterAll(async () => {
    await ctx?.cleanup();
    await am?.stop();
    await receiver?.close();
  });

  const post = async (value: number) => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/metrics',
      headers: { authorization: `Bearer ${ctx.token('user')}` },
      payload: { name: 'disk_usage', metric_type: 'gauge', value, labels: { host: 'db-1' } },
    });
    expect(res.statusCode).toBe(202);
  };
  const amAlerts = async (): Promise<AmAlert[]> =>
    (await fetch(`${am.url}/api/v2/alerts`)).json() as Promise<AmAlert[]>;
  const notifications = () =>
    receiver.requests.map(
      (r) => JSON.parse(r.body) as { status: string; alerts: { status: string; labels: Record<string, string> }[] },
    );

  it('receives the firing alert, keeps it active while it fires, and resolves it', async () => {
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/alerts',
      headers: { authorization: `Bearer ${ctx.token('moderator')}` },
      payload: {
        name: 'DiskFull',
        description: 'disk above 90%',
        query: 'disk_usage > 90',
        severity: 'critical',
        labels: { team: 'storage' },
        annotations: { runbook: 'https://runbooks/disk' },
      },
    });
    expect(created.statusCode).toBe(201);
    await post(97);

    const [alert] = await waitFor(amAlerts, (alerts) => alerts.length === 1);
    expect(alert.labels).toEqual({ alertname: 'DiskFull', severity: 'critical', team: 'storage', host: 'db-1' });
    expect(alert.annotations).toEqual({
      runbook: 'https://runbooks/disk',
      query: 'disk_usage > 90',
      description: 'disk above 90%',
      value: '97',
    });
    expect(alert.status.state).toBe('active');
    const firing = await waitFor(
      async () => notifications(),
      (n) => n.length >= 1,
    );
    expect(firing[0]).toMatchObject({
      status: 'firing',
      alerts: [{ status: 'firing', labels: { alertname: 'DiskFull', host: 'db-1' } }],
    });

    // Re-sent while firing: endsAt keeps moving ahead of now (4 × the 1 s re-send interval).
    const endsBefore = Date.parse(alert.endsAt);
    const [later] = await waitFor(amAlerts, (alerts) => Date.parse(alerts[0]?.endsAt ?? '0') > endsBefore, 10_000);
    expect(later.status.state).toBe('active');

    await post(40);
    const resolved = await waitFor(
      async () => notifications(),
      (n) => n.some((x) => x.status === 'resolved'),
      20_000,
    );
    expect(resolved.find((x) => x.status === 'resolved')).toMatchObject({
      alerts: [{ status: 'resolved', labels: { alertname: 'DiskFull', host: 'db-1' } }],
    });
    const after = await amAlerts();
    expect(after.filter((a) => a.status.state === 'active')).toEqual([]);
  });
});
