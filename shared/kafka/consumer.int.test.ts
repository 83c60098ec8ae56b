/**
 * BatchConsumer against the real broker: every record delivered once and in order per partition from the first
 * offset, a seek inside onBatch re-reads from where it says (the rest of the batch is not taken as read), commit()
 * moves the group's committed offset (read back with another client), onAssignment at every join, a second member
 * sharing the partitions and taking them all back when the first leaves, partitions added under a running member
 * assigned and read, an out-of-range position restarting from the first offset, and pause() stopping delivery.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.ts';
import { createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { BatchConsumer, type BatchControl, type PartitionBatch } from './consumer.ts';

interface Delivery {
  partition: number;
  offsets: number[];
}

describe('BatchConsumer', () => {
  let ctx: TestContext;
  const consumers: BatchConsumer[] = [];
  const logger = createLogger('silent');

  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterEach(async () => {
    for (const consumer of consumers.splice(0)) await consumer.stop();
  });
  afterAll(() => ctx?.cleanup());

  /** Produces `perPartition` records into each of the topic's partitions (value = "p<partition>-<i>"). */
  async function produce(topic: string, partitions: number, perPartition: number, from = 0): Promise<void> {
    const producer = await ctx.producer();
    const messages = [];
    for (let partition = 0; partition < partitions; partition++) {
      for (let i = from; i < from + perPartition; i++) messages.push({ partition, value: `p${partition}-${i}` });
    }
    await producer.send({ topic, acks: -1, messages });
  }

  function consumer(
    groupId: string,
    topic: string,
    onBatch: (batch: PartitionBatch, control: BatchControl) => Promise<void>,
    onAssignment?: (assignment: Record<string, number[]>) => void,
  ): BatchConsumer {
    const made = new BatchConsumer(
      ctx.kafka,
      {
        groupId,
        topics: [topic],
        maxWaitMs: 100,
        maxBytesPerPartition: 1 << 20,
        sessionTimeoutMs: 6000,
        onBatch,
        onAssignment,
      },
      logger,
    );
    consumers.push(made);
    return made;
  }

  const offsetsOf = (deliveries: Delivery[], partition: number) =>
    deliveries.filter((d) => d.partition === partition).flatMap((d) => d.offsets);

  it('delivers every record once, in order per partition, from the first offset; commits are visible', async () => {
    const topic = ctx.config.kafka.topics.events;
    await produce(topic, 3, 20);
    const deliveries: Delivery[] = [];
    const values = new Set<string>();
    const assignments: Record<string, number[]>[] = [];
    const member = consumer(
      `${ctx.id}-once`,
      topic,
      async (batch) => {
        deliveries.push({ partition: batch.partition, offsets: batch.records.map((r) => Number(r.offset)) });
        for (const record of batch.records) values.add(record.value!.toString());
        expect(batch.records.every((r) => Number(r.timestamp) > Date.now() - 600_000)).toBe(true);
      },
      (assignment) => assignments.push(assignment),
    );
    await member.start();
    expect(member.notConsuming).toBeNull();
    await waitFor(
      async () => values.size,
      (n) => n >= 60,
    );
    for (const partition of [0, 1, 2]) expect(offsetsOf(deliveries, partition)).toEqual([...Array(20).keys()]);
    expect(values.size).toBe(60);
    expect(assignments).toEqual([{ [topic]: [0, 1, 2] }]);

    await member.commit(topic, 1, '15');
    const admin = ctx.kafkajs.admin();
    await admin.connect();
    const [committed] = await admin
      .fetchOffsets({ groupId: `${ctx.id}-once`, topics: [topic] })
      .finally(() => admin.disconnect());
    expect(committed.partitions.find((p) => p.partition === 1)?.offset).toBe('15');
  });

  it('re-reads a partition from where onBatch seeked, and only there', async () => {
    const topic = ctx.config.kafka.topics.metrics;
    await produce(topic, 3, 10);
    const deliveries: Delivery[] = [];
    let seeked = false;
    const member = consumer(`${ctx.id}-seek`, topic, async (batch, control) => {
      deliveries.push({ partition: batch.partition, offsets: batch.records.map((r) => Number(r.offset)) });
      if (batch.partition === 2 && !seeked) {
        seeked = true;
        control.seek('7');
      }
    });
    await member.start();
    await waitFor(
      async () => [0, 1, 2].map((p) => offsetsOf(deliveries, p).length),
      (counts) => counts[0] === 10 && counts[1] === 10 && counts[2] >= 13,
    );
    expect(offsetsOf(deliveries, 2)).toEqual([...Array(10).keys(), 7, 8, 9]);
  });

  it('restarts a partition from its first offset when its position is out of range', async () => {
    const topic = ctx.config.kafka.topics.metrics;
    const deliveries: Delivery[] = [];
    let seeked = false;
    const member = consumer(`${ctx.id}-range`, topic, async (batch, control) => {
      deliveries.push({ partition: batch.partition, offsets: batch.records.map((r) => Number(r.offset)) });
      if (batch.partition === 1 && !seeked) {
        seeked = true;
        control.seek('1000'); // beyond the log end: the broker answers OFFSET_OUT_OF_RANGE
      }
    });
    await member.start();
    await waitFor(
      async () => offsetsOf(deliveries, 1).length,
      (n) => n >= 20,
    );
    expect(offsetsOf(deliveries, 1)).toEqual([...Array(10).keys(), ...Array(10).keys()]);
  });

  it('shares the partitions with a second member, which takes them all when the first leaves', async () => {
    const topic = ctx.config.kafka.topics.dlq;
    const groupId = `${ctx.id}-share`;
    const seen = [new Set<string>(), new Set<string>()];
    const assignments: Record<string, number[]>[][] = [[], []];
    const members = [0, 1].map((i) =>
      consumer(
        groupId,
        topic,
        async (batch) => {
          for (const record of batch.records) seen[i].add(record.value!.toString());
        },
        (assignment) => assignments[i].push(assignment),
      ),
    );
    await members[0].start();
    await members[1].start();
    const shared = await waitFor(
      async () => [assignments[0].at(-1)?.[topic] ?? [], assignments[1].at(-1)?.[topic] ?? []],
      ([a, b]) => a.length > 0 && b.length > 0 && a.length + b.length === 3,
    );
    expect([...shared[0], ...shared[1]].sort()).toEqual([0, 1, 2]);

    await produce(topic, 3, 5);
    await waitFor(
      async () => seen[0].size + seen[1].size,
      (n) => n === 15,
    );
    await members[1].stop();
    await waitFor(
      async () => assignments[0].at(-1)?.[topic] ?? [],
      (partitions) => partitions.length === 3,
    );
    await produce(topic, 3, 5, 5);
    await waitFor(
      async () => [...seen[0]].filter((v) => Number(v.split('-')[1]) >= 5).length,
      (n) => n === 15,
    );
  });

  it('is assigned partitions added to its topic while it runs, and reads them', async () => {
    const topic = `test.${ctx.id}.grow`;
    const admin = ctx.kafkajs.admin();
    await admin.connect();
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      const values = new Set<string>();
      const assignments: Record<string, number[]>[] = [];
      const member = consumer(
        `${ctx.id}-grow`,
        topic,
        async (batch) => {
          for (const record of batch.records) values.add(record.value!.toString());
        },
        (assignment) => assignments.push(assignment),
      );
      await member.start();
      await admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] });
      await waitFor(
        async () => assignments.at(-1)?.[topic] ?? [],
        (partitions) => partitions.length === 2,
      );
      await produce(topic, 2, 3);
      await waitFor(
        async () => [...values].sort(),
        (v) => v.length === 6,
      );
      expect([...values].sort()).toEqual(['p0-0', 'p0-1', 'p0-2', 'p1-0', 'p1-1', 'p1-2']);
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    }
  });

  it('delivers nothing after pause()', async () => {
    const topic = ctx.config.kafka.topics.events;
    const groupId = `${ctx.id}-pause`;
    let delivered = 0;
    const member = consumer(groupId, topic, async (batch) => {
      delivered += batch.records.length;
    });
    await member.start();
    await waitFor(
      async () => delivered,
      (n) => n === 60, // the first test's records
    );
    await member.pause();
    await produce(topic, 3, 5, 100);
    // The records are there for a member that is not paused: a second group reads all 15 meanwhile.
    let other = 0;
    const reader = consumer(`${groupId}-other`, topic, async (batch) => {
      other += batch.records.filter((r) => Number(r.value!.toString().split('-')[1]) >= 100).length;
    });
    await reader.start();
    await waitFor(
      async () => other,
      (n) => n === 15,
    );
    expect(delivered).toBe(60);
  });
});
