/**
 * BatchingProducer against the real broker: requests larger than the broker's message.max.bytes (1 MiB) are cut
 * into sends under it, concurrent publishes ride together, per-key order holds, and an empty publish is a no-op.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { readTopic } from '../../test/helpers/read-topic.ts';
import { BatchingProducer, type OutgoingMessage } from './producer.ts';

describe('BatchingProducer', () => {
  let ctx: TestContext;
  let producer: BatchingProducer;

  beforeAll(async () => {
    ctx = await createTestContext({ KAFKA_TOPIC_PARTITIONS: '1' });
    producer = new BatchingProducer(ctx.kafka, { timeoutMs: 20_000 });
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.close();
    await ctx?.cleanup();
  });

  const headers = { h: 'v' };
  const messages = (key: string, n: number, size: number, start = 0): OutgoingMessage[] =>
    Array.from({ length: n }, (_, i) => ({ key, value: Buffer.from(`${String(start + i).padStart(8, '0')}:${'x'.repeat(size)}`), headers }));

  // Regression: sends of up to 8 MB exceeded the broker's message.max.bytes (1 MiB) per partition and were refused
  // whole, so a 1000-event request of ~1 KB events to one source always answered 503.
  it('regression: publishes a 3 MB request to one partition in sends under 1 MiB, with concurrent ones, in order', async () => {
    const topic = ctx.config.kafka.topics.events;
    await producer.publish(topic, []);
    await Promise.all([
      producer.publish(topic, messages('big', 3000, 1000)),
      producer.publish(topic, messages('small', 5, 10)),
      producer.publish(topic, messages('small', 5, 10, 5)),
    ]);
    const records = await readTopic(ctx.kafka, topic);
    expect(records).toHaveLength(3010);
    const order = (key: string) => records.filter((r) => r.key === key).map((r) => Number(r.value.subarray(0, 8).toString()));
    expect(order('big')).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(order('small')).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(records[0].headers).toEqual({ h: 'v' });
    expect(producer.queuedByteCount).toBe(0);
  });
});
