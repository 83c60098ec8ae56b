/**
 * Writers joining and leaving one consumer group mid-stream: partitions move between members while batches are in
 * flight (pipelined fetches, pending records dropped at the rebalance and re-read, the offset fence stopping a
 * former owner), and every record is still stored exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countRows,
  totalsAndOffsets,
  createTestContext,
  waitFor,
  waitForWriterAtEnd,
  type TestContext,
} from '../../test/helpers/context.ts';
import { produceNumberedEvents } from '../../test/helpers/load.ts';
import type { Runtime } from '../../bin/runtime.ts';

const TOTAL = 20_000;

describe('writer rebalance', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext({
      KAFKA_TOPIC_PARTITIONS: '6',
      WRITER_BATCH_MAX_ROWS: '500',
      WRITER_SESSION_TIMEOUT_MS: '6000',
    });
  });
  afterAll(() => ctx?.cleanup());

  const stored = () => countRows(ctx.db, 'SELECT count(*) AS n FROM events');
  const rowsOf = async (runtime: Runtime) =>
    (await runtime.registry.getSingleMetric('vigil_writer_rows_total')!.get()).values.reduce(
      (sum, v) => sum + v.value,
      0,
    );

  it('stores every record once while members join and leave', async () => {
    const first = await ctx.start('writer');
    const producing = produceNumberedEvents(ctx.kafkajs, ctx.config.kafka.topics.events, {
      total: TOTAL,
      chunk: 250,
      pauseMs: 50,
    });
    await waitFor(stored, (n) => n >= 3000, 30_000);
    const second = await ctx.start('writer');
    // The partitions really moved: the new member stores a share while the first still runs.
    await waitFor(
      () => rowsOf(second),
      (n) => n > 0,
      30_000,
    );
    await first.stop(); // leaves the group after writing what it holds
    const third = await ctx.start('writer');
    await producing;
    await waitFor(stored, (n) => n >= TOTAL, 60_000);
    await waitForWriterAtEnd(ctx, ctx.config.kafka.topics.events, 60_000); // a record stored twice would show now
    expect(await stored()).toBe(TOTAL);
    expect(await countRows(ctx.db, 'SELECT count(DISTINCT message) AS n FROM events')).toBe(TOTAL);
    expect(await countRows(ctx.db, "SELECT coalesce(sum(count), 0) AS n FROM rollups WHERE kind = 'event'")).toBe(
      TOTAL,
    );
    const { totals, offsets } = await totalsAndOffsets(ctx.db, 'event', ctx.config.kafka.topics.events);
    expect(totals).toEqual(offsets);
    expect(
      await countRows(ctx.db, 'SELECT sum(next_offset) AS n FROM consumer_offsets WHERE topic = $1', [
        ctx.config.kafka.topics.events,
      ]),
    ).toBe(TOTAL);
    // What the members report as stored adds up to exactly the total: no batch was committed twice.
    const shares = [await rowsOf(first), await rowsOf(second), await rowsOf(third)];
    expect(shares[0]).toBeGreaterThan(0);
    expect(shares.reduce((a, b) => a + b, 0)).toBe(TOTAL);
    await second.stop();
    await third.stop();
  });
});
