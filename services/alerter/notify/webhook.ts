/**
 * The generic webhook: one JSON POST per alert that fires or resolves. Contract (README "Alert notifications"):
 *   headers  X-Vigil-Delivery: <transition id> (the same on every retry: receivers deduplicate on it)
 *            X-Vigil-Timestamp: <unix seconds>
 *            X-Vigil-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with ALERTER_WEBHOOK_SECRET>
 *   body     { version: 1, id, status: "firing" | "resolved", rule: { id, name, severity, query, description },
 *              labels, annotations, value, active_at, at, from }
 */
import crypto from 'node:crypto';
import type { RuleInfo } from '../engine/state.ts';
import type { Labels } from '../../../shared/promql/windows.ts';
import { postJson } from './http.ts';

export interface WebhookNotice {
  id: string;
  status: 'firing' | 'resolved';
  ruleId: string;
  rule: RuleInfo;
  labels: Labels;
  value: number | null;
  activeAt: number;
  at: number;
  from: string;
}

export function webhookBody(n: WebhookNotice): string {
  return JSON.stringify({
    version: 1,
    id: n.id,
    status: n.status,
    rule: { id: n.ruleId, name: n.rule.name, severity: n.rule.severity, query: n.rule.query, description: n.rule.description },
    labels: { ...n.rule.labels, ...n.labels },
    annotations: n.rule.annotations,
    value: n.value,
    active_at: new Date(n.activeAt).toISOString(),
    at: new Date(n.at).toISOString(),
    from: n.from,
  });
}

export function sign(secret: string, timestamp: string, body: string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class WebhookClient {
  constructor(private readonly url: string, private readonly secret: string | null, private readonly timeoutMs = 5000) {}

  async send(notice: WebhookNotice): Promise<void> {
    const body = webhookBody(notice);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = { 'x-vigil-delivery': notice.id, 'x-vigil-timestamp': timestamp };
    if (this.secret) headers['x-vigil-signature'] = sign(this.secret, timestamp, body);
    await postJson(this.url, body, headers, this.timeoutMs);
  }
}
