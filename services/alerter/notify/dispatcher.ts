/**
 * Delivers the transitions to firing or resolved (the outbox rows of alert_transitions), grouped per rule: the
 * first transition of a rule opens a window of ALERTER_NOTIFY_GROUP_WAIT_MS, and everything the rule does in it is
 * delivered together (as Alertmanager groups by alertname) — so a rule whose thousand series fire at once sends
 *   - to the events topic: an `alert` event per transition for the first ALERT_EVENTS_PER_GROUP of the group and ONE
 *     summary event for the rest (Avro, like the gateway; ids derived from the transition ids, so a re-delivery is
 *     stored once by the writer), in one publish;
 *   - to the webhook: ONE POST listing the group's alerts (webhook.ts);
 *   - to Alertmanager: ONE POST /api/v2/alerts carrying every alert of the group (its latest state per instance;
 *     the client cuts bodies of more than 500 alerts);
 * then marks the group's rows delivered. Groups of one rule are delivered in order (a resolve never overtakes its
 * firing); different rules run side by side. A crash between sending and marking re-sends at most those groups
 * (at-least-once, idempotent for the events topic; receivers deduplicate on X-Vigil-Delivery); sweep() picks up
 * rows a crashed alerter left behind.
 */
import { v5 as uuidv5 } from 'uuid';
import type { BatchingProducer } from '../../../shared/kafka/producer.ts';
import { ALERTER_ACTOR } from '../../../shared/auth/identity.ts';
import { HEADER_PRODUCER, HEADER_SCHEMA, PRODUCER_ALERTER } from '../../../shared/kafka/topics.ts';
import type { Logger } from '../../../shared/logger.ts';
import type { Codec } from '../../../shared/schemas/avro.ts';
import { withTimeout } from '../../../shared/wait.ts';
import type { EventRecord } from '../../../shared/schemas/event.ts';
import { CARDINALITY_FINGERPRINT } from '../engine/engine.ts';
import type { RuleInfo } from '../engine/state.ts';
import type { SavedTransition, StateStore } from '../engine/state-store.ts';
import type { AlerterMetrics } from '../metrics.ts';
import { toAlertmanager, type AlertmanagerClient, type AlertSnapshot } from './alertmanager.ts';
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from './http.ts';
import type { WebhookClient } from './webhook.ts';

const SWEEP_MAX_TRANSITIONS = 1000;
/** Longest message of an alert event (the gateway's default message limit is far above it). */
const EVENT_MESSAGE_MAX_CHARS = 8192;

/** Namespace of alert event ids: uuidv5(transition id). */
const ALERT_EVENT_NAMESPACE = '4d0f3f5e-2b61-4a51-9a52-6c1f0f7a7c11';
const MAX_PENDING = 10_000;
/** Alert events published one by one per group; the rest of the group is summarised in one event. */
export const ALERT_EVENTS_PER_GROUP = 100;
/** Undelivered rows younger than this may still be in the hands of the alerter that wrote them. */
const SWEEP_MIN_AGE_MS = 30_000;
export const ALERT_SOURCE = ALERTER_ACTOR;

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
  /** ALERTER_NOTIFY_GROUP_WAIT_MS: how long a rule's group collects transitions before it is delivered. */
  groupWaitMs: number;
  logger: Logger;
  metrics: AlerterMetrics;
  /** The current rule, for transitions read back from the database (which keep only the rule name). */
  ruleInfo(ruleId: string): RuleInfo | undefined;
  retry?: RetryPolicy;
}

interface OpenGroup {
  transitions: SavedTransition[];
  timer: NodeJS.Timeout;
}

export class Dispatcher {
  /** Windows collecting transitions, by rule. */
  private readonly open = new Map<string, OpenGroup>();
  /** Deliveries under way, by rule: the next group of a rule waits for the previous one. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Ids of the transitions queued or being delivered (a sweep does not take them twice). */
  private readonly held = new Set<string>();
  private pending = 0;
  private closed = false;
  /** Delivered ids waiting to be marked in one UPDATE (a burst of alerts costs one statement, not one each). */
  private delivered: { ids: string[]; done: () => void; failed: (error: Error) => void }[] = [];
  private marking: Promise<void> | null = null;

  constructor(private readonly deps: DispatcherDeps) {}

  enqueue(transitions: readonly SavedTransition[]): void {
    for (const t of transitions) {
      if (this.held.has(t.id)) continue;
      if (this.pending >= MAX_PENDING) {
        this.deps.logger.warn(
          { transition_id: t.id },
          'notification queue full; the transition stays in the outbox for the next sweep',
        );
        continue;
      }
      this.pending++;
      this.held.add(t.id);
      let group = this.open.get(t.ruleId);
      if (!group) {
        const timer = setTimeout(() => this.flush(t.ruleId), this.closed ? 0 : this.deps.groupWaitMs);
        timer.unref(); // a process that exits leaves the group in the outbox (swept by the next alerter)
        this.open.set(t.ruleId, (group = { transitions: [], timer }));
      }
      group.transitions.push(t);
    }
  }

  /** Re-delivers transitions a crashed alerter left undelivered. */
  async sweep(): Promise<void> {
    this.enqueue(await this.deps.store.undelivered(SWEEP_MIN_AGE_MS, SWEEP_MAX_TRANSITIONS));
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

  /** Delivers the open groups at once, waits for deliveries under way (up to timeoutMs), then stops retrying. */
  async close(timeoutMs: number): Promise<void> {
    for (const [ruleId, group] of [...this.open]) {
      clearTimeout(group.timer);
      this.flush(ruleId);
    }
    await withTimeout(Promise.all([...this.chains.values()]), timeoutMs, () => undefined);
    this.closed = true;
  }

  get pendingCount(): number {
    return this.pending;
  }

  private flush(ruleId: string): void {
    const group = this.open.get(ruleId);
    if (!group) return;
    this.open.delete(ruleId);
    const ts = group.transitions;
    const chain = (this.chains.get(ruleId) ?? Promise.resolve())
      .then(() => this.deliver(ruleId, ts))
      .catch((error) => {
        const fields = { err: error, rule_id: ruleId, transitions: ts.length };
        this.deps.logger.warn(fields, 'alert group not delivered; it stays in the outbox');
      })
      .finally(() => {
        this.pending -= ts.length;
        for (const t of ts) this.held.delete(t.id);
        if (this.chains.get(ruleId) === chain) this.chains.delete(ruleId);
      });
    this.chains.set(ruleId, chain);
  }

  private async deliver(ruleId: string, ts: SavedTransition[]): Promise<void> {
    const last = ts[ts.length - 1];
    const rule = last.rule ??
      this.deps.ruleInfo(ruleId) ?? {
        name: last.ruleName,
        severity: 'medium',
        query: '',
        description: null,
        labels: {},
        annotations: {},
      };
    const policy = this.deps.retry ?? DEFAULT_RETRY;
    const stopped = () => this.closed;
    const status = (t: SavedTransition) => (t.to === 'firing' ? 'firing' : 'resolved') as 'firing' | 'resolved';
    // The alert events are the one delivery that must not be skipped: failure leaves the rows in the outbox.
    const headers = { [HEADER_SCHEMA]: this.deps.eventBundleCodec.schemaId, [HEADER_PRODUCER]: PRODUCER_ALERTER };
    const events = ts.slice(0, ALERT_EVENTS_PER_GROUP).map((t) => this.alertEvent(t, t.rule ?? rule));
    const rest = ts.slice(ALERT_EVENTS_PER_GROUP);
    if (rest.length > 0) events.push(this.summaryEvent(ruleId, rest, rule));
    await withRetries(() => this.deps.producer.publish(this.deps.eventsTopic, headers, events), policy, stopped);
    const channels: [string, () => Promise<void>][] = [];
    const webhook = this.deps.webhook;
    if (webhook) {
      const alerts = ts.map((t) => ({
        id: t.id,
        status: status(t),
        labels: t.labels,
        value: t.value,
        activeAt: t.activeAt,
        at: t.at,
        from: t.from,
      }));
      channels.push(['webhook', () => webhook.send({ id: `${ts[0].id}-${last.id}`, ruleId, rule, alerts })]);
    }
    const alertmanager = this.deps.alertmanager;
    if (alertmanager) {
      // The latest state of each instance: a firing and its resolution in one window send the resolution.
      const latest = new Map<string, SavedTransition>();
      for (const t of ts) latest.set(t.fingerprint, t);
      const snapshots: AlertSnapshot[] = [...latest.values()].map((t) => ({
        rule: t.rule ?? rule,
        labels: t.labels,
        value: t.value,
        activeAt: t.activeAt,
        resolvedAt: t.to === 'resolved' ? t.at : null,
      }));
      const post = () => alertmanager.post(snapshots.map((a) => toAlertmanager(a, Date.now(), this.deps.resendMs)));
      channels.push(['alertmanager', post]);
    }
    for (const [channel, send] of channels) {
      try {
        await withRetries(send, policy, stopped);
        this.deps.metrics.notifications.inc({ channel, outcome: 'sent' });
      } catch (error) {
        // A receiver that refuses for longer than the retries last is reported, not retried forever.
        this.deps.metrics.notifications.inc({ channel, outcome: 'failed' });
        const fields = { err: error, channel, rule_id: ruleId, transitions: ts.length };
        this.deps.logger.warn(fields, 'notification failed after retries');
      }
    }
    await this.markDelivered(ts.map((t) => t.id));
  }

  private markDelivered(ids: string[]): Promise<void> {
    return new Promise<void>((done, failed) => {
      this.delivered.push({ ids, done, failed });
      this.marking ??= this.flushMarks();
    });
  }

  private async flushMarks(): Promise<void> {
    while (this.delivered.length > 0) {
      await new Promise((r) => setImmediate(r)); // let deliveries finishing in the same turn join
      const batch = this.delivered;
      this.delivered = [];
      try {
        await this.deps.store.markDelivered(batch.flatMap((d) => d.ids));
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
      message: `[${firing ? 'FIRING' : 'RESOLVED'}] ${rule.name}${describeValue(t)}`.slice(0, EVENT_MESSAGE_MAX_CHARS),
      level: levelOf(firing, rule),
      tags: JSON.stringify({
        ...t.labels,
        alertname: rule.name,
        rule_id: t.ruleId,
        status: firing ? 'firing' : 'resolved',
        severity: rule.severity,
      }),
      payload: JSON.stringify({
        transition_id: Number(t.id),
        rule_id: t.ruleId,
        query: rule.query,
        fingerprint: t.fingerprint,
        labels: t.labels,
        from: t.from,
        to: t.to,
        value: t.value,
        active_at: new Date(t.activeAt).toISOString(),
      }),
      timestamp: t.at,
      created_by: ALERT_SOURCE,
      // Derived from the transition: a re-sent alert event has the same id and timestamp (one primary key).
      id_given: false,
    };
    return { into: ALERT_SOURCE, value: this.deps.eventCodec.encode(record) };
  }

  /** One event standing for the transitions of a group beyond ALERT_EVENTS_PER_GROUP (counted, not listed). */
  private summaryEvent(ruleId: string, rest: SavedTransition[], rule: RuleInfo) {
    const firing = rest.filter((t) => t.to === 'firing').length;
    const first = rest[0];
    const last = rest[rest.length - 1];
    const status = firing > 0 ? 'firing' : 'resolved';
    const record: EventRecord = {
      id: uuidv5(`alert-group:${first.id}-${last.id}`, ALERT_EVENT_NAMESPACE),
      event_type: 'alert',
      source: ALERT_SOURCE,
      message: (
        `[${status.toUpperCase()}] ${rule.name}: ${rest.length} more alerts (${firing} firing, ` +
        `${rest.length - firing} resolved) in this notification group, not published one by one`
      ).slice(0, EVENT_MESSAGE_MAX_CHARS),
      level: levelOf(firing > 0, rule),
      tags: JSON.stringify({ alertname: rule.name, rule_id: ruleId, status, severity: rule.severity, grouped: 'true' }),
      payload: JSON.stringify({
        rule_id: ruleId,
        query: rule.query,
        alerts: rest.length,
        firing,
        resolved: rest.length - firing,
        first_transition_id: Number(first.id),
        last_transition_id: Number(last.id),
      }),
      timestamp: last.at,
      created_by: ALERT_SOURCE,
      id_given: false, // derived from the group's transitions, like an alert event's
    };
    return { into: ALERT_SOURCE, value: this.deps.eventCodec.encode(record) };
  }
}

function levelOf(firing: boolean, rule: RuleInfo): 'error' | 'warn' | 'info' {
  return firing ? (rule.severity === 'critical' || rule.severity === 'high' ? 'error' : 'warn') : 'info';
}

function describeValue(t: SavedTransition): string {
  if (t.fingerprint === CARDINALITY_FINGERPRINT) {
    const refused = t.value ?? 0;
    return `: cardinality exceeded, ${refused} result series got no alert (ALERTER_MAX_INSTANCES_PER_RULE reached)`;
  }
  return t.value === null ? '' : ` (value ${t.value})`;
}
