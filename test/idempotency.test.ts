/**
 * A producer-chosen id is stored once per kind across resends within the idempotency window, whatever its UUID
 * version and whether a timestamp is sent (the primary key (timestamp, id) alone stored a resend again: without a
 * timestamp the arrival time differs, and a UUIDv7 outside the time window gets no time from its id). Generated ids
 * pay nothing (no claim). GET /events/{id} answers the event stored first, so a later producer cannot shadow it.
 */
import crypto from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { deleteExpiredIdClaims } from '../shared/db/retention.ts';
import { createTestContext, countRows, waitFor, type TestContext } from './helpers/context.ts';
import { readTopic } from './helpers/read-topic.ts';

const EVENTS = '/api/v1/monitoring/events';
const METRICS = '/api/v1/monitoring/metrics';

describe('idempotency of producer-chosen ids', () => {
  let ctx: TestContext;
  let vigil: Runtime;

  beforeAll(async () => {
    ctx = await createTestContext();
    vigil = await ctx.start('gateway,writer,query');
  });
  afterAll(() => ctx?.cleanup());

  const post = async (url: string, payload: unknown, sub = 'producer-a') => {
    const res = await vigil.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${ctx.token('user', sub)}` },
      payload: payload as object,
    });
    expect(res.statusCode, res.body).toBe(202);
    return res.json().data;
  };
  const rowsOf = async (table: 'events' | 'metrics', id: string) =>
    (
      await ctx.db.query(
        `SELECT id, "timestamp", ${table === 'events' ? 'message' : 'value'}, created_by FROM ${table} WHERE id = $1`,
        [id],
      )
    ).rows;
  const stored = (table: 'events' | 'metrics', n: number) =>
    waitFor(
      () => countRows(ctx.db, `SELECT count(*) AS n FROM ${table}`),
      (c) => c >= n,
      30_000,
    );
  /** Waits until the writer has consumed everything produced so far (its duplicates are invisible otherwise). */
  const drained = async () => {
    const admin = ctx.kafkajs.admin();
    await admin.connect();
    try {
      for (const topic of [ctx.config.kafka.topics.events, ctx.config.kafka.topics.metrics]) {
        const ends = await admin.fetchTopicOffsets(topic);
        const target = Object.fromEntries(ends.map((p) => [p.partition, Number(p.high)]));
        await waitFor(
          async () => {
            const { rows } = await ctx.db.query<{ partition: number; next_offset: string }>(
              'SELECT partition, next_offset FROM consumer_offsets WHERE topic = $1',
              [topic],
            );
            const at = Object.fromEntries(rows.map((r) => [r.partition, Number(r.next_offset)]));
            return Object.entries(target).every(([p, high]) => high === 0 || at[p] === high);
          },
          (ok) => ok,
          30_000,
        );
      }
    } finally {
      await admin.disconnect();
    }
  };

  it('stores a resent UUIDv4 id without timestamp once, in separate requests and within one batch', async () => {
    const id = crypto.randomUUID();
    const first = await post(EVENTS, { id, event_type: 'log', source: 'idem', message: 'v4 first' });
    await stored('events', 1);
    await new Promise((r) => setTimeout(r, 5)); // a later arrival time: another primary key
    const again = await post(EVENTS, { id, event_type: 'log', source: 'idem', message: 'v4 again' });
    expect(again.timestamp).not.toBe(first.timestamp);
    const batch = await post(EVENTS, [
      { id, event_type: 'log', source: 'idem', message: 'v4 batch 1' },
      { id, event_type: 'log', source: 'other', message: 'v4 batch 2' },
    ]);
    expect(batch).toMatchObject({ accepted: 2, ids: [id, id] });
    await drained();
    expect(await rowsOf('events', id)).toEqual([
      { id, timestamp: new Date(first.timestamp), message: 'v4 first', created_by: 'producer-a' },
    ]);
  });

  it('stores once a resent UUIDv7 whose time is outside the window, and one with different timestamps', async () => {
    const old = uuidv7({ msecs: Date.now() - 400 * 86_400_000 });
    await post(EVENTS, { id: old, event_type: 'log', source: 'idem', message: 'old v7 first' });
    const fresh = uuidv7();
    await post(EVENTS, {
      id: fresh,
      event_type: 'log',
      source: 'idem',
      message: 'v7 first',
      timestamp: Date.now() - 60_000,
    });
    await drained();
    await post(EVENTS, { id: old, event_type: 'log', source: 'idem', message: 'old v7 again' });
    await post(EVENTS, {
      id: fresh,
      event_type: 'log',
      source: 'idem',
      message: 'v7 again',
      timestamp: Date.now() - 30_000,
    });
    await drained();
    expect((await rowsOf('events', old)).map((r) => r.message)).toEqual(['old v7 first']);
    expect((await rowsOf('events', fresh)).map((r) => r.message)).toEqual(['v7 first']);
  });

  it('ids are unique per kind: an event and a metric sample may share one; a metric resend is kept once', async () => {
    const id = crypto.randomUUID();
    await post(EVENTS, { id, event_type: 'metric', source: 'idem', message: 'shared id' });
    await post(METRICS, { id, name: 'idem_total', metric_type: 'counter', value: 1 });
    await drained();
    await post(METRICS, { id, name: 'idem_total', metric_type: 'counter', value: 1 });
    await drained();
    expect((await rowsOf('events', id)).length).toBe(1);
    expect((await rowsOf('metrics', id)).map((r) => r.value)).toEqual([1]);
  });

  it('GET /events/{id} answers the event stored first: a later producer cannot shadow it', async () => {
    const chosen = crypto.randomUUID();
    await post(EVENTS, { id: chosen, event_type: 'log', source: 'idem', message: 'mine' }, 'producer-a');
    const generated = (await post(EVENTS, { event_type: 'log', source: 'idem', message: 'generated' }, 'producer-a'))
      .id as string;
    await drained();
    // Another producer reuses both ids: the chosen one is a duplicate; the generated one was never claimed, so it is
    // stored a second time, but the answer stays the first.
    await post(EVENTS, { id: chosen, event_type: 'log', source: 'idem', message: 'shadow' }, 'producer-b');
    await post(
      EVENTS,
      { id: generated, event_type: 'log', source: 'idem', message: 'shadow', timestamp: Date.now() - 1000 },
      'producer-b',
    );
    await drained();
    expect((await rowsOf('events', chosen)).length).toBe(1);
    expect((await rowsOf('events', generated)).length).toBe(2);
    for (const [id, message] of [
      [chosen, 'mine'],
      [generated, 'generated'],
    ]) {
      const res = await vigil.app.inject({
        method: 'GET',
        url: `${EVENTS}/${id}`,
        headers: { authorization: `Bearer ${ctx.token('admin')}` },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().data).toMatchObject({ id, message, created_by: 'producer-a' });
    }
  });

  it('claims only producer-chosen ids; counts each stored row once; after the window a resend is stored', async () => {
    // v4, old v7, v7, the event and the metric sharing an id, the chosen id, the generated id reused by producer-b.
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM ingest_ids')).toBe(7);
    const generated = (await post(EVENTS, { event_type: 'log', source: 'idem', message: 'generated again' }))
      .id as string;
    await drained();
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events WHERE id = $1', [generated])).toBe(1);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM ingest_ids WHERE id = $1', [generated])).toBe(0);
    const rolled = await countRows(ctx.db, "SELECT sum(count) AS n FROM rollups WHERE kind = 'event'");
    expect(rolled).toBe(await countRows(ctx.db, 'SELECT count(*) AS n FROM events'));
    const duplicates = (await vigil.registry.getSingleMetric('vigil_writer_duplicates_total')!.get()).values.reduce(
      (s, v) => s + v.value,
      0,
    );
    expect(duplicates).toBe(7); // v4: 3, v7: 2, metric: 1, shadow: 1
    expect(await readTopic(ctx.kafkajs, ctx.config.kafka.topics.dlq)).toEqual([]);

    // Past the window the claim is gone (maintenance), and the id is stored again.
    const id = crypto.randomUUID();
    await post(EVENTS, { id, event_type: 'log', source: 'idem', message: 'before the window' });
    await drained();
    await ctx.db.query("UPDATE ingest_ids SET stored_at = now() - interval '25 hours' WHERE id = $1", [id]);
    expect(await deleteExpiredIdClaims(ctx.db, ctx.config.storage.idempotencyWindowHours)).toBeGreaterThanOrEqual(1);
    await post(EVENTS, { id, event_type: 'log', source: 'idem', message: 'after the window' });
    await drained();
    expect((await rowsOf('events', id)).map((r) => r.message).sort()).toEqual([
      'after the window',
      'before the window',
    ]);
  });
});
