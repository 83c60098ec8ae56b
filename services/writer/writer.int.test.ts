/**
 * The writer resumes from the offsets stored in PostgreSQL, not from Kafka's: after a restart with the group's
 * Kafka offsets rewound to the beginning, the new writer stores only the records it had not stored, exactly once.
 * Offsets stored against another Kafka cluster (a new broker data directory) are discarded, not trusted: resuming
 * from them would skip this cluster's records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestContext,
  countRows,
  waitFor,
  waitForWriterAtEnd,
  type TestContext,
} from '../../test/helpers/context.ts';
import type { Runtime } from '../../bin/runtime.ts';

async function rowsStoredBy(runtime: Runtime): Promise<number> {
  const metric = await runtime.registry.getSingleMetric('vigil_writer_rows_total')!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

describe('writer offsets', () => {
  let ctx: TestContext;
  let api: Runtime;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway');
  });
  afterAll(() => ctx?.cleanup());

  async function post(count: number, from: number): Promise<void> {
    const token = ctx.token('user');
    for (let i = from; i < from + count; i++) {
      const res = await api.app.inject({
        method: 'POST',
        url: '/api/v1/monitoring/events',
        headers: { authorization: `Bearer ${token}` },
        payload: { event_type: 'log', source: `svc-${i % 7}`, message: `event ${i}` },
      });
      expect(res.statusCode).toBe(202);
    }
  }

  it('a restarted writer resumes from PostgreSQL offsets and stores nothing twice', async () => {
    const first = await ctx.start('writer');
    await post(30, 0);
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n === 30,
    );
    expect(await rowsStoredBy(first)).toBe(30);
    await first.stop();

    // Rewind Kafka's committed offsets for the group: only PostgreSQL now knows what was stored.
    const admin = ctx.kafkajs.admin();
    await admin.connect();
    await admin.resetOffsets({
      groupId: ctx.config.writer.groupId,
      topic: ctx.config.kafka.topics.events,
      earliest: true,
    });

    await post(20, 30);
    const second = await ctx.start('writer');
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n >= 50,
    );
    await waitForWriterAtEnd(ctx, ctx.config.kafka.topics.events); // anything re-stored would show up by now
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events')).toBe(50);
    expect(await countRows(ctx.db, 'SELECT count(DISTINCT id) AS n FROM events')).toBe(50);
    expect(
      await countRows(ctx.db, "SELECT count(DISTINCT message) AS n FROM events WHERE message LIKE 'event %'"),
    ).toBe(50);
    expect(await rowsStoredBy(second)).toBe(20);

    // The stored offsets are exactly the topic's end offsets, partition by partition.
    const ends = await admin.fetchTopicOffsets(ctx.config.kafka.topics.events);
    const { rows } = await ctx.db.query<{ partition: number; next_offset: string }>(
      'SELECT partition, next_offset FROM consumer_offsets WHERE consumer_group = $1 AND topic = $2 ORDER BY partition',
      [ctx.config.writer.groupId, ctx.config.kafka.topics.events],
    );
    const expected = ends
      .filter((p) => p.high !== '0')
      .map((p) => ({ partition: p.partition, next_offset: p.high }))
      .sort((a, b) => a.partition - b.partition);
    expect(rows).toEqual(expected);
    expect(expected.reduce((sum, p) => sum + Number(p.next_offset), 0)).toBe(50);
    await admin.disconnect();
  });
});

describe('writer offsets from another Kafka cluster', () => {
  let ctx: TestContext;
  let api: Runtime;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway');
  });
  afterAll(() => ctx?.cleanup());

  const post = async (messages: string[]) => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/events',
      headers: { authorization: `Bearer ${ctx.token('user')}` },
      payload: messages.map((message, i) => ({ event_type: 'log', source: `svc-${i}`, message })),
    });
    expect(res.json().data).toMatchObject({ accepted: messages.length, rejected: 0 });
  };

  it('discards offsets bound to another cluster, stores all records of this one; keeps those of this one', async () => {
    await post(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
    // Offsets as another cluster's writer left them: each partition "stored" up to this topic's end.
    const admin = ctx.kafkajs.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(ctx.config.kafka.topics.events);
    const { clusterId } = await admin.describeCluster();
    await admin.disconnect();
    expect(ends.some((p) => Number(p.high) > 0)).toBe(true);
    for (const p of ends) {
      await ctx.db.query(
        'INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) VALUES ($1, $2, $3, $4)',
        [ctx.config.writer.groupId, ctx.config.kafka.topics.events, p.partition, p.high],
      );
    }
    await ctx.db.query(
      `INSERT INTO consumer_offset_clusters (consumer_group, cluster_id) VALUES ($1, 'another-cluster')`,
      [ctx.config.writer.groupId],
    );

    const writer = await ctx.start('writer');
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n === 7,
    );
    const { rows } = await ctx.db.query('SELECT cluster_id FROM consumer_offset_clusters WHERE consumer_group = $1', [
      ctx.config.writer.groupId,
    ]);
    expect(rows).toEqual([{ cluster_id: clusterId }]);
    await writer.stop();

    // Same cluster: the offsets hold across a restart, nothing is stored twice.
    await post(['b0', 'b1', 'b2']);
    const again = await ctx.start('writer');
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n >= 10,
    );
    await waitForWriterAtEnd(ctx, ctx.config.kafka.topics.events);
    expect(await countRows(ctx.db, 'SELECT count(DISTINCT message) AS n FROM events')).toBe(10);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events')).toBe(10);
    await again.stop();

    // A new, empty database on the same cluster (the group's Kafka offsets are at the end): PostgreSQL is the truth,
    // so everything Kafka still holds is stored again.
    await ctx.db.query('TRUNCATE events, consumer_offsets, rollups, ingest_totals');
    const fresh = await ctx.start('writer');
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n >= 10,
    );
    await waitForWriterAtEnd(ctx, ctx.config.kafka.topics.events);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events')).toBe(10);
    await fresh.stop();
  });
});
