/**
 * RecordProducer against the real broker: every send asks for acks=all. The client's constructor option `acks`
 * applies to idempotent sends only (a plain send defaults to acks=1), so the test reads the acks each send asked
 * for from the client's diagnostics channel — for a bare client built with `acks: ALL` (the trap), RecordProducer,
 * and the gateway's BatchingProducer — and checks the records arrived.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { readTopic } from '../../test/helpers/read-topic.ts';
import { BatchingProducer } from './producer.ts';
import { RecordProducer } from './record-producer.ts';

interface SendContext {
  client: { clientId: string };
  options: { acks?: number };
}

describe('RecordProducer', () => {
  let ctx: TestContext;
  const SENDS = 'tracing:plt:kafka:producer:sends:start';
  const asked: Array<[string, number | undefined]> = [];
  const onSend = (message: unknown) => {
    const { client, options } = message as SendContext;
    asked.push([client.clientId, options.acks]);
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    subscribe(SENDS, onSend);
  });
  afterAll(async () => {
    unsubscribe(SENDS, onSend);
    await ctx?.cleanup();
  });

  it('asks for acks=all on every send, where a client built with acks=ALL asks for acks=1', async () => {
    const topic = ctx.config.kafka.topics.events;
    const bare = new Producer({
      clientId: `${ctx.id}-bare`,
      bootstrapBrokers: [...ctx.config.kafka.brokers],
      acks: ProduceAcks.ALL,
    });
    await bare
      .send({ messages: [{ topic, key: Buffer.from('bare'), value: Buffer.from('bare') }] })
      .finally(() => bare.close());

    const producer = new RecordProducer(ctx.kafka.settings);
    await producer.connect();
    await producer
      .send([{ topic, key: Buffer.from('record'), value: Buffer.from('record') }])
      .finally(() => producer.close());
    const batching = new BatchingProducer(ctx.kafka, { timeoutMs: 20_000 });
    await batching.connect();
    await batching
      .publish(topic, { h: 'v' }, [{ into: 'batching', value: Buffer.from('x') }])
      .finally(() => batching.close());

    const clientId = ctx.kafka.settings.clientId;
    expect(asked.filter(([id]) => id === `${ctx.id}-bare`)).toEqual([[`${ctx.id}-bare`, ProduceAcks.LEADER]]);
    expect(asked.filter(([id]) => id === clientId)).toEqual([
      [clientId, ProduceAcks.ALL],
      [clientId, ProduceAcks.ALL],
    ]);
    const stored = await readTopic(ctx.kafkajs, topic);
    expect(stored.map((r) => r.key).sort()).toEqual(['bare', 'batching', 'record']);
  });

  it("reads a topic's partition count from its own metadata, and follows partitions added", async () => {
    // Its own topic: partitions are added to it.
    const topic = `${ctx.config.kafka.topics.events}.grown`;
    const admin = ctx.kafkajs.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
      const producer = new BatchingProducer(ctx.kafka, { timeoutMs: 20_000 });
      await producer.connect();
      try {
        expect(await producer.partitionCount(topic)).toBe(2);
        await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] });
        // Within the client's metadata age (5 s) the count may still be 2; whatever it says, a bundle sent to its
        // last partition lands there (a partition beyond it would be taken modulo it by the client).
        const seen: number[] = [];
        const deadline = Date.now() + 20_000;
        for (let count = 0; count !== 4; ) {
          if (Date.now() > deadline) throw new Error(`the producer still reads ${count} partitions, not 4`);
          count = await producer.partitionCount(topic);
          if (seen.at(-1) !== count) {
            seen.push(count);
            await producer.publish(topic, { h: 'v' }, [{ into: count - 1, value: Buffer.from(`top-of-${count}`) }]);
          }
          if (count !== 4) await new Promise((resolve) => setTimeout(resolve, 250));
        }
        const stored = await readTopic(ctx.kafkajs, topic);
        // A bundle is its items framed as an Avro array: the item's bytes are inside the value.
        const landed = stored.map((r) => [r.partition, /top-of-\d/.exec(String(r.value))?.[0]]);
        expect(landed.sort()).toEqual(seen.map((count) => [count - 1, `top-of-${count}`]).sort());
        expect(seen.at(-1)).toBe(4);
      } finally {
        await producer.close();
      }
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    }
  }, 60_000);
});
