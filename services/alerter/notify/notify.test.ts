import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toAlertmanager } from './alertmanager.ts';
import { DeliveryError, withRetries } from './http.ts';
import { MAX_ALERTS_PER_NOTIFICATION, sign, webhookBody } from './webhook.ts';

const rule = {
  name: 'High CPU',
  severity: 'high',
  query: 'cpu_usage > 80',
  description: 'hot',
  labels: { team: 'ops' },
  annotations: { runbook: 'r' },
};

describe('notifications', () => {
  it('signs "<timestamp>.<body>" with HMAC-SHA256', () => {
    const body = '{"a":1}';
    expect(sign('k', '1700000000', body)).toBe(
      `sha256=${crypto.createHmac('sha256', 'k').update(`1700000000.${body}`).digest('hex')}`,
    );
  });

  it('writes the grouped webhook body contract', () => {
    const alerts = [
      { id: '7', status: 'firing' as const, labels: { host: 'a' }, value: 93, activeAt: 0, at: 5000, from: 'pending' },
      {
        id: '9',
        status: 'resolved' as const,
        labels: { host: 'b' },
        value: 81,
        activeAt: 1000,
        at: 6000,
        from: 'firing',
      },
    ];
    const body = JSON.parse(webhookBody({ id: '7-9', ruleId: 'r1', rule, alerts }));
    expect(body).toEqual({
      version: 2,
      id: '7-9',
      group_key: 'r1',
      status: 'firing',
      rule: { id: 'r1', name: 'High CPU', severity: 'high', query: 'cpu_usage > 80', description: 'hot' },
      annotations: { runbook: 'r' },
      counts: { firing: 1, resolved: 1 },
      alerts: [
        {
          id: '7',
          status: 'firing',
          labels: { team: 'ops', host: 'a' },
          value: 93,
          active_at: '1970-01-01T00:00:00.000Z',
          at: '1970-01-01T00:00:05.000Z',
          from: 'pending',
        },
        {
          id: '9',
          status: 'resolved',
          labels: { team: 'ops', host: 'b' },
          value: 81,
          active_at: '1970-01-01T00:00:01.000Z',
          at: '1970-01-01T00:00:06.000Z',
          from: 'firing',
        },
      ],
      truncated_alerts: 0,
    });
    const many = Array.from({ length: MAX_ALERTS_PER_NOTIFICATION + 5 }, (_, i) => ({ ...alerts[1], id: String(i) }));
    const big = JSON.parse(webhookBody({ id: 'x', ruleId: 'r1', rule, alerts: many }));
    expect([big.status, big.counts, big.alerts.length, big.truncated_alerts]).toEqual([
      'resolved',
      { firing: 0, resolved: 1005 },
      1000,
      5,
    ]);
  });

  it('gives Alertmanager endsAt 4 re-send intervals ahead while firing, the resolution time once resolved', () => {
    const firing = toAlertmanager(
      { rule, labels: { host: 'a', alertname: 'spoof' }, value: 93, activeAt: 1000, resolvedAt: null },
      10_000,
      60_000,
    );
    expect(firing).toEqual({
      labels: { team: 'ops', host: 'a', alertname: 'High CPU', severity: 'high' },
      annotations: { runbook: 'r', query: 'cpu_usage > 80', description: 'hot', value: '93' },
      startsAt: new Date(1000).toISOString(),
      endsAt: new Date(250_000).toISOString(),
    });
    expect(
      toAlertmanager({ rule, labels: {}, value: null, activeAt: 1000, resolvedAt: 7000 }, 10_000, 60_000).endsAt,
    ).toBe(new Date(7000).toISOString());
  });

  it('retries retriable failures with backoff, stops at final ones and after the last attempt', async () => {
    const policy = { attempts: 4, initialDelayMs: 10, maxDelayMs: 20 };
    let calls = 0;
    await withRetries(async () => {
      if (++calls < 3) throw new DeliveryError('503', true);
    }, policy);
    expect(calls).toBe(3);

    calls = 0;
    await expect(
      withRetries(async () => {
        calls++;
        throw new DeliveryError('400', false);
      }, policy),
    ).rejects.toThrow('400');
    expect(calls).toBe(1);
    calls = 0;
    const started = Date.now();
    await expect(
      withRetries(async () => {
        calls++;
        throw new DeliveryError('timeout', true);
      }, policy),
    ).rejects.toThrow('timeout');
    expect(calls).toBe(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(5 + 10 + 10 - 5); // jittered halves of 10, 20, 20
  });
});
