import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kafkajsPartition } from '../../test/helpers/kafkajs-partitioner.ts';
import { fixedPartitions, keyPartition, murmur2, type PartitionCounts, TopicPartitioner } from './partitioner.ts';

describe('keyPartition', () => {
  it("puts every key where KafkaJS's DefaultPartitioner (Java's murmur2) puts it", () => {
    const counts = [1, 2, 3, 6, 7, 64, 1000];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 12 }),
          fc.string({ unit: 'binary', maxLength: 40 }),
          // Lone surrogates: both encode them as U+FFFD.
          fc.string({ unit: 'binary', maxLength: 40 }).map((s) => `${s}\ud800x`),
          // Longer than the scratch buffer holds at first.
          fc.string({ unit: 'grapheme', minLength: 80, maxLength: 400 }),
        ),
        fc.constantFrom(...counts),
        (key, count) => {
          const expected = kafkajsPartition(key, count);
          expect(keyPartition(key, count)).toBe(expected);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("matches Java's murmur2 on the reference keys of Kafka's own tests", () => {
    // org.apache.kafka.common.utils.UtilsTest#testMurmur2
    const cases: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    expect(cases.map(([key]) => [key, murmur2(key)])).toEqual(cases);
  });

  it('routes by a fixed partition count without a broker, the same after its memory of keys filled up', async () => {
    const route = await fixedPartitions(6).router();
    // More keys than the route remembers (4,096), twice: the second pass finds some remembered, some not.
    const keys = Array.from({ length: 5000 }, (_, i) => `source-${i}`);
    const expected = keys.map((key) => keyPartition(key, 6));
    expect(keys.map(route)).toEqual(expected);
    expect(keys.map(route)).toEqual(expected);
  });
});

describe('TopicPartitioner', () => {
  /**
   * A producer whose metadata answers only once `open()` was called, `answerMs` after being asked, with `count`
   * partitions (changed through `setCount`).
   */
  const slowBroker = (count: number, answerMs = 0) => {
    let open: () => void = () => {};
    const opened = new Promise<void>((resolve) => (open = resolve));
    let current = count;
    const counts: PartitionCounts = {
      partitionCount: async () => {
        await opened;
        await new Promise((resolve) => setTimeout(resolve, answerMs));
        return current;
      },
    };
    return { counts, open: () => open(), setCount: (n: number) => (current = n) };
  };

  it('refuses within its wait when the count was never read, and routes once the broker answers', async () => {
    const broker = slowBroker(6);
    const partitioner = new TopicPartitioner(broker.counts, 'events', { waitMs: 50 });
    const started = Date.now();
    await expect(partitioner.router()).rejects.toMatchObject({
      code: 'VIGIL_ERR_KAFKA_UNAVAILABLE',
      message: 'the partitions of events were not read within 50 ms; retry later',
    });
    expect(Date.now() - started).toBeLessThan(1000);
    broker.open();
    const route = await partitioner.router();
    expect(route('web-server-1')).toBe(keyPartition('web-server-1', 6));
  });

  it('reads the count when warmed, so that the first request does not wait for it', async () => {
    const broker = slowBroker(3, 20);
    broker.open();
    const cold = new TopicPartitioner(broker.counts, 'events', { waitMs: 0 });
    await expect(cold.router()).rejects.toMatchObject({ code: 'VIGIL_ERR_KAFKA_UNAVAILABLE' });
    const warmed = new TopicPartitioner(broker.counts, 'events', { waitMs: 0 });
    warmed.warm();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const route = await warmed.router();
    expect(route('db')).toBe(keyPartition('db', 3));
  });

  it("follows the producer's count, as partitions are added and when a lagging broker answers an old one", async () => {
    const broker = slowBroker(2);
    broker.open();
    const partitioner = new TopicPartitioner(broker.counts, 'events', { waitMs: 1000, refreshMs: 0 });
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // A stale count is read again behind the known one: one call starts the read, a later one finds its count.
    const reread = async () => {
      await sleep(5);
      await partitioner.router();
      await sleep(20);
    };
    const key = 'web-server-4'; // partition 0 of 2, 2 of 4
    expect((await partitioner.router())(key)).toBe(keyPartition(key, 2));
    broker.setCount(4); // partitions added: the producer's metadata has them
    await reread();
    expect((await partitioner.router())(key)).toBe(keyPartition(key, 4));
    // A broker whose metadata lags answers the count from before: the producer's client then takes partitions
    // beyond it modulo it, so the routes follow it rather than name them.
    broker.setCount(2);
    await reread();
    expect((await partitioner.router())(key)).toBe(keyPartition(key, 2));
  });
});
