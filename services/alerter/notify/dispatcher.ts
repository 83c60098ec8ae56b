/**
 * Delivers each transition to firing or resolved (the outbox rows of alert_transitions): publishes an `alert` event
 * to the events topic (Avro, like the gateway; its id is derived from the transition id, so a re-delivery is stored
 * once by the writer), posts the webhook and Alertmanager, then marks the row delivered. Deliveries of one alert
 * instance run in order (a resolve never overtakes its firing); different instances run side by side. A crash
 * between sending and marking re-sends at most that transition (at-least-once, idempotent for every receiver);
 * sweep() picks up rows a crashed alerter left behind.
 */
import { v5 as uuidv5 } from 'uuid';
import type { BatchingProducer } from '../../../shared/kafka/producer.ts';
import { HEADER_PRODUCER, HEADER_SCHEMA } from '../../../shared/kafka/topics.ts';
import type { Logger } from '../../../shared/logger.ts';
import type { Codec } from '../../../shared/schemas/avro.ts';
import type { EventRecord } from '../../../shared/schemas/event.ts';
import type { RuleInfo } from '../engine/state.ts';
import type { SavedTransition, StateStore } from '../engine/state-store.ts';
import type { AlerterMetrics } from '../metrics.ts';
import { toAlertmanager, type AlertmanagerClient, type AlertSnapshot } from './alertmanager.ts';
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from './http.ts';
import type { WebhookClient } from './webhook.ts';

/** Namespace of alert event ids: uuidv5(transition id). */
const ALERT_EVENT_NAMESPACE = '4d0f3f5e-2b61-4a51-9a52-6c1f0f7a7c11';
const MAX_PENDING = 10_000;
/** Undelivered rows younger than this may still be in the hands of the alerter that wrote them. */
const SWEEP_MIN_AGE_MS = 30_000;
export const ALERT_SOURCE = 'vigil-alerter';

export interface DispatcherDeps {
  store: StateStore;
  producer: BatchingProducer;
  eventsTopic: string;
  eventCodec: Codec;
  /** Names the bundle the alert event travels in (the producer sends bundles; this one has one item). */
  eventBundleCodec: Codec;
  webhook: WebhookClient | null;
  alertmanager: AlertmanagerClient | null;
  resendMs: number;
  logger: Logger;
  metrics: AlerterMetrics;
  /** The current rule, for transitions read back from the database (which keep only the rule name). */
  ruleInfo(ruleId: string): RuleInfo | undefined;
  retry?: RetryPolicy;
}

export class Dispatcher {
  private readonly chains = new Map<string, Promise<void>>();
  private pending = 0;
  private closed = false;
  /** Delivered ids waiting to be marked in one UPDATE (a burst of alerts costs one statement, not one each). */
  private delivered: { id: string; done: () => void; failed: (error: Error) => void }[] = [];
  private marking: Promise<void> | null = null;

  constructor(private readonly deps: DispatcherDeps) {}

  enqueue(transitions: readonly SavedTransition[]): void {
    for (const t of transitions) {
      if (this.pending >= MAX_PENDING) {
        this.deps.logger.warn({ transition_id: t.id }, 'notification queue full; the transition stays in the outbox for the next sweep');
        continue;
      }
      const key = `${t.ruleId}/${t.fingerprint}`;
      this.pending++;
      const chain = (this.chains.get(key) ?? Promise.resolve())
        .then(() => this.deliver(t))
        .catch((error) => this.deps.logger.warn({ err: error, transition_id: t.id }, 'alert transition not delivered; it stays in the outbox'))
        .finally(() => {
          this.pending--;
          if (this.chains.get(key) === chain) this.chains.delete(key);
        });
      this.chains.set(key, chain);
    }
  }

  /** Re-delivers transitions a crashed alerter left undelivered. */
  async sweep(): Promise<void> {
    const rows = await this.deps.store.undelivered(SWEEP_MIN_AGE_MS, 1000);
    this.enqueue(rows.filter((r) => !this.chains.has(`${r.ruleId}/${r.fingerprint}`)));
  }

  /** Re-sends firing alerts to Alertmanager (it forgets alerts whose endsAt passed). */
  async resend(firing: AlertSnapshot[], now: number): Promise<void> {
    if (!this.deps.alertmanager || firing.length === 0) return;
    try {
      await this.deps.alertmanager.post(firing.map((a) => toAlertmanager(a, now, this.deps.resendMs)));
      this.deps.metrics.notifications.inc({ channel: 'alertmanager', outcome: 'resent' }, firing.length);
    } catch (error) {
      this.deps.metrics.notifications.inc({ channel: 'alertmanager', outcome: 'failed' }, firing.length);
      this.deps.logger.warn({ err: error }, 'alertmanager re-send failed; retrying at the next interval');
    }
  }

  /** Waits for deliveries under way (up to timeoutMs), then stops retrying. */
  async close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...this.chains.values()]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.closed = true;
  }

  get pendingCount(): number {
    return this.pending;
  }

  private async deliver(t: SavedTransition): Promise<void> {
    const rule = t.rule ?? this.deps.ruleInfo(t.ruleId) ?? { name: t.ruleName, severity: 'medium', query: '', description: null, labels: {}, annotations: {} };
    const policy = this.deps.retry ?? DEFAULT_RETRY;
    const stopped = () => this.closed;
    const status = t.to === 'firing' ? 'firing' : 'resolved';
    // The alert event is the one delivery that must not be skipped: failure leaves the row in the outbox.
    const headers = { [HEADER_SCHEMA]: this.deps.eventBundleCodec.schemaId, [HEADER_PRODUCER]: 'alerter' };
    await withRetries(() => this.deps.producer.publish(this.deps.eventsTopic, headers, [this.alertEvent(t, rule)]), policy, stopped);
    const channels: [string, () => Promise<void>][] = [];
    const webhook = this.deps.webhook;
    if (webhook) {
      channels.push(['webhook', () => webhook.send({ id: t.id, status, ruleId: t.ruleId, rule, labels: t.labels, value: t.value, activeAt: t.activeAt, at: t.at, from: t.from })]);
    }
    const alertmanager = this.deps.alertmanager;
    if (alertmanager) {
      const snapshot: AlertSnapshot = { rule, labels: t.labels, value: t.value, activeAt: t.activeAt, resolvedAt: status === 'resolved' ? t.at : null };
      channels.push(['alertmanager', () => alertmanager.post([toAlertmanager(snapshot, Date.now(), this.deps.resendMs)])]);
    }
    for (const [channel, send] of channels) {
      try {
        await withRetries(send, policy, stopped);
        this.deps.metrics.notifications.inc({ channel, outcome: 'sent' });
      } catch (error) {
        // A receiver that refuses for longer than the retries last is reported, not retried forever.
        this.deps.metrics.notifications.inc({ channel, outcome: 'failed' });
        this.deps.logger.warn({ err: error, channel, transition_id: t.id }, 'notification failed after retries');
      }
    }
    await this.markDelivered(t.id);
  }

  private markDelivered(id: string): Promise<void> {
    return new Promise<void>((done, failed) => {
      this.delivered.push({ id, done, failed });
      this.marking ??= this.flushMarks();
    });
  }

  private async flushMarks(): Promise<void> {
    while (this.delivered.length > 0) {
      await new Promise((r) => setImmediate(r)); // let deliveries finishing in the same turn join
      const batch = this.delivered;
      this.delivered = [];
      try {
        await this.deps.store.markDelivered(batch.map((d) => d.id));
        for (const d of batch) d.done();
      } catch (error) {
        for (const d of batch) d.failed(error as Error);
      }
    }
    this.marking = null;
  }

  private alertEvent(t: SavedTransition, rule: RuleInfo) {
    const firing = t.to === 'firing';
    const record: EventRecord = {
      id: uuidv5(`alert-transition:${t.id}`, ALERT_EVENT_NAMESPACE),
      event_type: 'alert',
      source: ALERT_SOURCE,
      message: `[${firing ? 'FIRING' : 'RESOLVED'}] ${rule.name}${t.value === null ? '' : ` (value ${t.value})`}`.slice(0, 8192),
      level: firing ? (rule.severity === 'critical' || rule.severity === 'high' ? 'error' : 'warn') : 'info',
      tags: JSON.stringify({ ...t.labels, alertname: rule.name, rule_id: t.ruleId, status: firing ? 'firing' : 'resolved', severity: rule.severity }),
      payload: JSON.stringify({ transition_id: Number(t.id), rule_id: t.ruleId, query: rule.query, fingerprint: t.fingerprint, labels: t.labels, from: t.from, to: t.to, value: t.value, active_at: new Date(t.activeAt).toISOString() }),
      timestamp: t.at,
      created_by: ALERT_SOURCE,
      // Derived from the transition: a re-sent alert event has the same id and timestamp (one primary key).
      id_given: false,
    };
    return { into: ALERT_SOURCE, value: this.deps.eventCodec.encode(record) };
  }
}
