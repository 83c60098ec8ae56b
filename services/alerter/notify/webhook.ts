/**
 * The generic webhook: one JSON POST per rule and notification window (ALERTER_NOTIFY_GROUP_WAIT_MS) carrying every
 * alert of the rule that fired or resolved in it. Contract (README "Alert notifications"):
 *   headers  X-Vigil-Delivery: <delivery id> (the same on every retry: receivers deduplicate on it)
 *            X-Vigil-Timestamp: <unix seconds>
 *            X-Vigil-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with ALERTER_WEBHOOK_SECRET>
 *   body     { version: 2, id, group_key: <rule id>, status: "firing" (some alert fires) | "resolved",
 *              rule: { id, name, severity, query, description }, annotations, counts: { firing, resolved },
 *              alerts: [{ id, status, labels, value, active_at, at, from }] (at most MAX_ALERTS_PER_NOTIFICATION,
 *              in the order they happened), truncated_alerts: <alerts left out of `alerts`> }
 */
import crypto from 'node:crypto';
import type { RuleInfo } from '../engine/state.ts';
import type { Labels } from '../../../shared/promql/windows.ts';
import { postJson } from './http.ts';

import { MS_PER_SECOND } from '../../../shared/units.ts';

/** Alerts listed in one notification body at most; the others are counted in `truncated_alerts`. */
export const MAX_ALERTS_PER_NOTIFICATION = 1000;

export interface WebhookAlert {
  /** The transition id. */
  id: string;
  status: 'firing' | 'resolved';
  labels: Labels;
  value: number | null;
  activeAt: number;
  at: number;
  from: string;
}

export interface WebhookNotice {
  /** The delivery id: the first and last transition ids of the group. */
  id: string;
  ruleId: string;
  rule: RuleInfo;
  alerts: WebhookAlert[];
}

export function webhookBody(n: WebhookNotice): string {
  const firing = n.alerts.filter((a) => a.status === 'firing').length;
  const listed = n.alerts.slice(0, MAX_ALERTS_PER_NOTIFICATION);
  return JSON.stringify({
    version: 2,
    id: n.id,
    group_key: n.ruleId,
    status: firing > 0 ? 'firing' : 'resolved',
    rule: {
      id: n.ruleId,
      name: n.rule.name,
      severity: n.rule.severity,
      query: n.rule.query,
      description: n.rule.description,
    },
    annotations: n.rule.annotations,
    counts: { firing, resolved: n.alerts.length - firing },
    alerts: listed.map((a) => ({
      id: a.id,
      status: a.status,
      labels: { ...n.rule.labels, ...a.labels },
      value: a.value,
      active_at: new Date(a.activeAt).toISOString(),
      at: new Date(a.at).toISOString(),
      from: a.from,
    })),
    truncated_alerts: n.alerts.length - listed.length,
  });
}

export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class WebhookClient {
  constructor(
    private readonly url: string,
    private readonly secret: string | null,
    private readonly timeoutMs = 5000,
  ) {}

  async send(notice: WebhookNotice): Promise<void> {
    const body = webhookBody(notice);
    const timestamp = String(Math.floor(Date.now() / MS_PER_SECOND));
    const headers: Record<string, string> = { 'x-vigil-delivery': notice.id, 'x-vigil-timestamp': timestamp };
    if (this.secret) headers['x-vigil-signature'] = sign(this.secret, timestamp, body);
    await postJson(this.url, body, headers, this.timeoutMs);
  }
}
