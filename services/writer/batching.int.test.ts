/**
 * Batching by size and by time: records accumulate per partition across fetches until WRITER_BATCH_MAX_ROWS are
 * waiting (one COPY transaction each), and a lone record is written once it has waited WRITER_BATCH_MAX_WAIT_MS.
 */
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import type { Runtime } from '../../bin/runtime.ts';

describe('writer batching', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext({
      KAFKA_TOPIC_PARTITIONS: '1',
      WRITER_BATCH_MAX_ROWS: '1000',
      WRITER_BATCH_MAX_WAIT_MS: '400',
    });
  });
  afterAll(() => ctx?.cleanup());

  async function batches(runtime: Runtime): Promise<{ count: number; sum: number }> {
    const metric = await runtime.registry.getSingleMetric('vigil_writer_batch_rows')!.get();
    const pick = (suffix: string) =>
      metric.values.find(
        (v) =>
          (v as { metricName?: string }).metricName === `vigil_writer_batch_rows_${suffix}` &&
          v.labels.table === 'events',
      )?.value ?? 0;
    return { count: pick('count'), sum: pick('sum') };
  }

  it('writes full batches of WRITER_BATCH_MAX_ROWS, then a lone record after WRITER_BATCH_MAX_WAIT_MS', async () => {
    const producer = ctx.kafkajs.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const event = (i: number) => ({
      key: 'k',
      value: JSON.stringify({ event_type: 'log', source: 'batching', message: `e${i}` }),
    });
    await producer.send({
      topic: ctx.config.kafka.topics.events,
      messages: Array.from({ length: 3500 }, (_, i) => event(i)),
    });

    const writer = await ctx.start('writer');
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n === 3500,
    );
    expect(await batches(writer)).toEqual({ count: 4, sum: 3500 }); // 1000 + 1000 + 1000 by size, 500 by time

    const sent = Date.now();
    await producer.send({ topic: ctx.config.kafka.topics.events, messages: [event(3500)] });
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n === 3501,
      10_000,
    );
    const latency = Date.now() - sent;
    expect(latency).toBeGreaterThanOrEqual(350);
    expect(latency).toBeLessThan(3000);
    expect(await batches(writer)).toEqual({ count: 5, sum: 3501 });
    await producer.disconnect();

    // The rest of the writer's telemetry: COPY and transaction durations per batch, nothing pending, no lag.
    const values = async (name: string) => (await writer.registry.getSingleMetric(name)!.get()).values;
    const count = async (name: string) =>
      (await values(name)).find((v) => (v as { metricName?: string }).metricName === `${name}_count`)?.value;
    expect(await count('vigil_writer_copy_seconds')).toBe(5);
    expect(await count('vigil_writer_transaction_seconds')).toBe(5);
    expect((await values('vigil_writer_batches_total')).map((v) => [v.labels.table, v.value])).toEqual([['events', 5]]);
    expect((await values('vigil_writer_pending_records'))[0].value).toBe(0);
    expect(
      (await values('vigil_writer_consumer_lag')).map((v) => [v.labels.topic, v.labels.partition, v.value]),
    ).toEqual([[ctx.config.kafka.topics.events, '0', 0]]);
    expect(await values('vigil_writer_retries_total')).toEqual([]);
  });
});
