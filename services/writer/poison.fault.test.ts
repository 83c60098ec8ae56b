/**
 * A poison record among good ones in ONE partition: an Avro event PostgreSQL refuses (a direct producer's tags text
 * is stored as sent, and a number beyond numeric's range passes JSON validation but not jsonb) and an undecodable
 * one. The good records are stored, the poison ones
 * land in the DLQ with their headers, and the partition keeps moving to its end offset.
 */
import crypto from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCodecs } from '../../shared/schemas/avro.ts';
import { countRows, createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { awaitRecords } from '../../test/helpers/read-topic.ts';

describe('poison records', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext({ WRITER_BATCH_MAX_ROWS: '100' });
  });
  afterAll(() => ctx?.cleanup());

  it('stores the good records, dead-letters the poison ones and keeps the partition moving', async () => {
    const topic = ctx.config.kafka.topics.events;
    const producer = ctx.kafkajs.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const good = (i: number) => ({
      key: 'one-source',
      value: JSON.stringify({ event_type: 'log', source: 'one-source', message: `good ${i}` }),
    });
    const codec = loadCodecs().get('Event')!;
    const rejected = codec.encode({
      id: crypto.randomUUID(),
      event_type: 'log',
      source: 'one-source',
      message: 'poison',
      level: null,
      tags: '{"n":1e1000000}',
      payload: '{}',
      timestamp: Date.now(),
      created_by: null,
      id_given: true,
    });
    await producer.send({
      topic,
      messages: [
        ...Array.from({ length: 250 }, (_, i) => good(i)),
        { key: 'one-source', value: rejected, headers: { 'vigil-schema': codec.schemaId, 'x-trace': 'p1' } },
        ...Array.from({ length: 100 }, (_, i) => good(250 + i)),
        {
          key: 'one-source',
          value: '{"event_type": "log", "source": ',
          headers: { 'content-type': 'application/json' },
        },
      ],
    });
    const writer = await ctx.start('writer');
    // Records after the poison ones, sent while the writer runs: the partition must keep moving.
    await producer.send({ topic, messages: Array.from({ length: 150 }, (_, i) => good(350 + i)) });
    await producer.disconnect();

    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n >= 500,
    );
    const { rows: offsets } = await ctx.db.query<{ partition: number; next_offset: string }>(
      'SELECT partition, next_offset FROM consumer_offsets WHERE topic = $1',
      [topic],
    );
    await waitFor(
      async () =>
        (await ctx.db.query<{ n: string }>('SELECT next_offset AS n FROM consumer_offsets WHERE topic = $1', [topic]))
          .rows[0]?.n,
      (n) => n === '502',
    );
    expect(offsets.length).toBe(1);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events')).toBe(500);
    expect(await countRows(ctx.db, "SELECT count(DISTINCT message) AS n FROM events WHERE message LIKE 'good %'")).toBe(
      500,
    );

    const letters = await awaitRecords(ctx.kafkajs, ctx.config.kafka.topics.dlq, 2);
    const byReason = Object.fromEntries(letters.map((l) => [l.headers['vigil-dlq-reason'], l]));
    expect(Object.keys(byReason).sort()).toEqual(['decode_failed', 'rejected_by_database']);
    const db = byReason.rejected_by_database;
    expect(db.value!.equals(rejected)).toBe(true);
    expect(db.key!.toString()).toBe('one-source');
    expect(db.headers).toMatchObject({
      'x-trace': 'p1',
      'vigil-schema': codec.schemaId,
      'vigil-dlq-topic': topic,
      'vigil-dlq-partition': String(offsets[0].partition),
      'vigil-dlq-offset': '250',
    });
    expect(db.headers['vigil-dlq-detail']).toMatch(/overflows numeric format/i);
    expect(byReason.decode_failed.headers).toMatchObject({ 'vigil-dlq-topic': topic, 'vigil-dlq-offset': '351' });
    expect(byReason.decode_failed.headers['vigil-dlq-detail']).toMatch(/^malformed JSON/);

    const dlq = await writer.registry.getSingleMetric('vigil_dlq_records_total')!.get();
    expect(dlq.values.map((v) => [v.labels.reason, v.value]).sort()).toEqual([
      ['decode_failed', 1],
      ['rejected_by_database', 1],
    ]);
  });
});
