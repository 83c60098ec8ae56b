/**
 * Records for a time bucket without a partition are never lost: the writer creates the partition on demand (an
 * event 10 days old, a metric sample 60 days old), and when a partition it had seen is dropped behind its back, the
 * COPY's "no partition" error makes it forget what it knew, create the partition again and store the batch.
 */
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketStart, listPartitions, partitionName } from '../../shared/db/partitions.ts';
import { countRows, createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import type { Runtime } from '../../bin/runtime.ts';

const DAY = 86_400_000;

describe('partitions on demand', () => {
  let ctx: TestContext;
  let writer: Runtime;
  let producer: Producer;

  beforeAll(async () => {
    ctx = await createTestContext({ PARTITION_GRANULARITY: 'day' });
    writer = await ctx.start('writer');
    producer = await ctx.producer();
  });
  afterAll(() => ctx?.cleanup());

  const event = (ms: number, message: string) => ({
    key: 'old',
    value: JSON.stringify({ event_type: 'log', source: 'old', message, timestamp: ms }),
  });

  it('creates missing partitions for old records, and again after one was dropped behind its back', async () => {
    const tenDaysAgo = Date.now() - 10 * DAY;
    const sixtyDaysAgo = Date.now() - 60 * DAY;
    await producer.send({ topic: ctx.config.kafka.topics.events, messages: [event(tenDaysAgo, 'ten days old')] });
    await producer.send({
      topic: ctx.config.kafka.topics.metrics,
      messages: [
        {
          key: 'm',
          value: JSON.stringify({ name: 'old_metric', metric_type: 'gauge', value: 1, timestamp: sixtyDaysAgo }),
        },
      ],
    });
    await waitFor(
      () => countRows(ctx.db, 'SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM metrics) AS n'),
      (n) => n === 2,
    );
    const eventPartition = partitionName('events', bucketStart(tenDaysAgo, 'day'), 'day');
    expect((await listPartitions(ctx.db, 'events')).map((p) => p.name)).toContain(eventPartition);
    expect((await listPartitions(ctx.db, 'metrics')).map((p) => p.name)).toContain(
      partitionName('metrics', bucketStart(sixtyDaysAgo, 'day'), 'day'),
    );
    expect((await listPartitions(ctx.db, 'rollups')).map((p) => p.name)).toContain(
      partitionName('rollups', bucketStart(sixtyDaysAgo, 'day'), 'day'),
    );

    // Dropped behind the writer's back (an operator, a retention run with other settings): the next record still lands.
    await ctx.db.query(`DROP TABLE ${eventPartition}`);
    await producer.send({ topic: ctx.config.kafka.topics.events, messages: [event(tenDaysAgo + 1, 'after the drop')] });
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n === 1,
    );
    expect((await ctx.db.query('SELECT message FROM events')).rows).toEqual([{ message: 'after the drop' }]);
    const retries = await writer.registry.getSingleMetric('vigil_writer_retries_total')!.get();
    expect(retries.values.find((v) => v.labels.kind === 'missing_partition')?.value).toBe(1);
    const dlq = await writer.registry.getSingleMetric('vigil_dlq_records_total')!.get();
    expect(dlq.values).toEqual([]);
  });
});
