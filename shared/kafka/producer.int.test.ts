/**
 * BatchingProducer against the real broker: items travel in bundles (one record per key or explicit partition),
 * requests larger than the broker's message.max.bytes (1 MiB) are cut into sends under it and bundles under
 * their cap, concurrent publishes ride together (in one bundle when they share a key), per-key order holds, keyed
 * bundles land where KafkaJS's partitioner puts the key (keyPartition), items routed to a partition land there with
 * no key, and an empty publish is a no-op.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCodecs } from '../schemas/avro.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { unbundle } from '../../test/helpers/bundles.ts';
import { readTopic } from '../../test/helpers/read-topic.ts';
import { keyPartition } from './partitioner.ts';
import { BatchingProducer, type BundleItem } from './producer.ts';

const codecs = loadCodecs();
const event = codecs.get('Event')!;
const bundle = codecs.get('EventBundle')!;
const headers = { 'vigil-schema': bundle.schemaId, h: 'v' };

/** n Avro events whose message is their sequence number (padded) followed by `size` bytes of filler. */
const items = (into: string | number, n: number, size: number, start = 0): BundleItem[] =>
  Array.from({ length: n }, (_, i) => ({
    into,
    value: event.encode({
      id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d',
      event_type: 'log',
      source: String(into),
      message: `${String(start + i).padStart(8, '0')}:${'x'.repeat(size)}`,
      level: null,
      tags: '{}',
      payload: '{}',
      timestamp: 0,
      created_by: null,
    }),
  }));
const sequence = (message: unknown) => Number(String(message).slice(0, 8));

describe('BatchingProducer', () => {
  let ctx: TestContext;
  let producer: BatchingProducer;

  beforeAll(async () => {
    ctx = await createTestContext({ KAFKA_TOPIC_PARTITIONS: '3' });
    producer = new BatchingProducer(ctx.kafka, { timeoutMs: 20_000 });
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.close();
    await ctx?.cleanup();
  });

  // Regression: sends of up to 8 MB exceeded the broker's message.max.bytes (1 MiB) per partition and were refused
  // whole, so a 1000-event request of ~1 KB events to one source always answered 503.
  it('regression: 3 MB to one key go in sends < 1 MiB, bundles < 256 KiB, with concurrent ones, in order', async () => {
    const topic = ctx.config.kafka.topics.events;
    await producer.publish(topic, headers, []);
    await Promise.all([
      producer.publish(topic, headers, items('big', 3000, 1000)),
      producer.publish(topic, headers, items('small', 5, 10)),
      producer.publish(topic, headers, items('small', 5, 10, 5)),
    ]);
    const records = await readTopic(ctx.kafkajs, topic);
    const travelled = unbundle(records, bundle);
    expect(travelled).toHaveLength(3010);
    const order = (key: string) => travelled.filter((t) => t.key === key).map((t) => sequence(t.item.message));
    expect(order('big')).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(order('small')).toEqual(Array.from({ length: 10 }, (_, i) => i));
    const big = records.filter((r) => r.key === 'big');
    expect(big.length).toBeGreaterThanOrEqual(12); // 3 MB in bundles of at most 256 KiB
    for (const record of big) expect(record.value.length).toBeLessThanOrEqual(256 * 1024 + 8);
    for (const record of records) expect(record.headers).toEqual(headers);
    for (const record of records) expect(record.partition).toBe(keyPartition(record.key!, 3));
    expect(producer.queuedByteCount).toBe(0);
  });

  it('packs publishes waiting for a send into bundles per key; numbered items go to their partition', async () => {
    const topic = ctx.config.kafka.topics.metrics;
    const one = new BatchingProducer(ctx.kafka, { timeoutMs: 20_000, maxInFlightSends: 1 });
    await one.connect();
    try {
      // The first publish takes the only send slot; the next three wait and ride in one send.
      await Promise.all([
        one.publish(topic, headers, items('a', 2, 1)),
        one.publish(topic, headers, items('a', 2, 1, 2)),
        one.publish(topic, headers, [...items(2, 1, 1, 0), ...items('a', 1, 1, 4)]),
        one.publish(topic, headers, items(2, 2, 1, 1)),
      ]);
    } finally {
      await one.close();
    }
    const records = await readTopic(ctx.kafkajs, topic);
    const summary = records
      .map((r) => ({
        partition: r.partition,
        key: r.key,
        messages: unbundle([r], bundle).map((t) => sequence(t.item.message)),
      }))
      .sort((x, y) => `${x.key}${x.messages[0]}`.localeCompare(`${y.key}${y.messages[0]}`));
    const partitionOfA = keyPartition('a', 3);
    expect(summary).toEqual([
      { partition: partitionOfA, key: 'a', messages: [0, 1] },
      { partition: partitionOfA, key: 'a', messages: [2, 3, 4] },
      { partition: 2, key: null, messages: [0, 1, 2] },
    ]);
  });
});
