/**
 * Grouping of notifications per rule and window, with recording stand-ins for the producer, the outbox store and
 * the receivers (the real ones are exercised end to end in test/alerts.test.ts and test/cardinality.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/logger.ts';
import { Registry } from '../../../shared/metrics.ts';
import { loadCodecs } from '../../../shared/schemas/avro.ts';
import { pollUntil } from '../../../shared/wait.ts';
import type { BatchingProducer } from '../../../shared/kafka/producer.ts';
import type { SavedTransition, StateStore } from '../engine/state-store.ts';
import { createAlerterMetrics } from '../metrics.ts';
import type { AlertmanagerAlert, AlertmanagerClient } from './alertmanager.ts';
import { ALERT_EVENTS_PER_GROUP, Dispatcher } from './dispatcher.ts';
import type { WebhookClient, WebhookNotice } from './webhook.ts';

const codecs = loadCodecs();
const rule = { name: 'Disk', severity: 'high', query: 'disk > 90', description: null, labels: {}, annotations: {} };

function transition(id: number, ruleId: string, host: string, to: 'firing' | 'resolved'): SavedTransition {
  return {
    id: String(id),
    ruleId,
    ruleName: 'Disk',
    fingerprint: host,
    labels: { host },
    from: to === 'firing' ? 'inactive' : 'firing',
    to,
    value: 95,
    activeAt: 1000,
    at: 2000 + id,
    origin: null,
    rule,
  };
}

function setup(groupWaitMs: number) {
  const published: Buffer[][] = [];
  const notices: WebhookNotice[] = [];
  const posts: AlertmanagerAlert[][] = [];
  const marked: string[][] = [];
  const dispatcher = new Dispatcher({
    store: {
      markDelivered: async (ids: readonly string[]) => void marked.push([...ids]),
      undelivered: async () => [],
    } as unknown as StateStore,
    producer: {
      publish: async (_t: string, _h: unknown, items: { value: Buffer }[]) =>
        void published.push(items.map((i) => i.value)),
    } as unknown as BatchingProducer,
    eventsTopic: 'events',
    eventCodec: codecs.get('Event')!,
    eventBundleCodec: codecs.get('EventBundle')!,
    webhook: { send: async (n: WebhookNotice) => void notices.push(n) } as unknown as WebhookClient,
    alertmanager: {
      post: async (alerts: AlertmanagerAlert[]) => void posts.push(alerts),
    } as unknown as AlertmanagerClient,
    resendMs: 60_000,
    groupWaitMs,
    logger: createLogger('silent'),
    metrics: createAlerterMetrics(new Registry()),
    ruleInfo: () => undefined,
  });
  return { dispatcher, published, notices, posts, marked };
}

const until = (done: () => boolean) => pollUntil('the deliveries', done, 5000, 10);

describe('Dispatcher', () => {
  it("delivers a rule's window as one group: one webhook POST, one Alertmanager POST, bounded events", async () => {
    const { dispatcher, published, notices, posts, marked } = setup(100);
    // 1,500 alerts of one rule arrive in three saves inside the window, one of another rule too.
    let id = 0;
    for (let save = 0; save < 3; save++) {
      dispatcher.enqueue(Array.from({ length: 500 }, () => transition(++id, 'r1', `h${id}`, 'firing')));
      await new Promise((r) => setTimeout(r, 10)); // deliberately apart in time, as separate saves arrive
    }
    dispatcher.enqueue([transition(++id, 'r2', 'x', 'firing'), transition(++id, 'r1', 'h1', 'resolved')]);
    await until(() => marked.flat().length === 1502);
    expect(notices.map((n) => [n.ruleId, n.alerts.length])).toEqual([
      ['r1', 1501],
      ['r2', 1],
    ]);
    expect(notices[0].id).toBe('1-1502');
    // Alertmanager: the latest state per instance (h1 resolved), all in one call for the rule.
    expect(posts.map((p) => p.length)).toEqual([1500, 1]);
    expect(posts[0].filter((a) => a.labels.host === 'h1').map((a) => a.endsAt)).toEqual([
      new Date(2000 + 1502).toISOString(),
    ]);
    // Events: the first 100 transitions of the group one by one, then ONE summary of the other 1,401.
    expect(published.map((p) => p.length)).toEqual([ALERT_EVENTS_PER_GROUP + 1, 1]);
    const summary = codecs
      .get('Event')!
      .decode(published[0][ALERT_EVENTS_PER_GROUP], codecs.get('Event')!.schemaId) as {
      message: string;
      tags: string;
      payload: string;
    };
    expect(summary.message).toBe(
      '[FIRING] Disk: 1401 more alerts (1400 firing, 1 resolved) in this notification group, not published one by one',
    );
    expect(JSON.parse(summary.tags)).toEqual({
      alertname: 'Disk',
      rule_id: 'r1',
      status: 'firing',
      severity: 'high',
      grouped: 'true',
    });
    expect(JSON.parse(summary.payload)).toMatchObject({
      alerts: 1401,
      firing: 1400,
      resolved: 1,
      first_transition_id: 101,
      last_transition_id: 1502,
    });
    expect(dispatcher.pendingCount).toBe(0);
  });

  it('opens a new window for what comes after a group was sent, and takes no transition twice', async () => {
    const { dispatcher, notices, marked } = setup(20);
    const first = transition(1, 'r1', 'a', 'firing');
    dispatcher.enqueue([first]);
    dispatcher.enqueue([first]); // a sweep finding it still undelivered
    await until(() => marked.length === 1);
    dispatcher.enqueue([transition(2, 'r1', 'a', 'resolved')]);
    await until(() => marked.length === 2);
    expect(notices.map((n) => n.alerts.map((a) => `${a.id}:${a.status}`))).toEqual([['1:firing'], ['2:resolved']]);
  });
});
