/**
 * What a fold reports: foldOnce answers how many series it folded (new ones and ones it merged into); the loop's
 * foldNow answers its own fold only, after the one in progress (at start, the loop's first fold takes the backlog).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples } from '../../test/helpers/rows.ts';
import { createLogger } from '../../shared/logger.ts';
import { foldOnce, startFoldLoop } from './series-fold.ts';

const RETENTION_DAYS = 30;

describe('foldOnce', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(() => ctx?.cleanup());

  /**
   * Folds until the watermark passes what was committed so far, adding up the series each fold reports: a fold's
   * watermark stays behind any transaction open in the database (an autovacuum worker's, on a busy machine), so the
   * samples may take more than one fold.
   */
  async function foldCommitted(): Promise<number> {
    const { rows } = await ctx.db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    let series = 0;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      const result = await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS });
      series += result.series ?? 0;
      if (result.watermark && result.watermark > rows[0].now) return series;
    }
    throw new Error('the fold did not pass the committed samples within 10 s');
  }

  it('reports the number of series it folded', async () => {
    const now = Date.now();
    await insertSamples(ctx.db, [
      { name: 'fold_a', metric_type: 'gauge', value: 1, timestamp: now - 60_000, labels: { x: '1' } },
      { name: 'fold_a', metric_type: 'gauge', value: 2, timestamp: now - 30_000, labels: { x: '1' } },
      { name: 'fold_a', metric_type: 'gauge', value: 3, timestamp: now - 30_000, labels: { x: '2' } },
      { name: 'fold_b', metric_type: 'counter', value: 4, timestamp: now - 30_000 },
    ]);
    expect(await foldCommitted()).toBe(3);
    // One series already folded, one new.
    await insertSamples(ctx.db, [
      { name: 'fold_a', metric_type: 'gauge', value: 5, timestamp: now - 10_000, labels: { x: '1' } },
      { name: 'fold_c', metric_type: 'gauge', value: 6, timestamp: now - 10_000 },
    ]);
    expect(await foldCommitted()).toBe(2);
    // Nothing new: no series (or no fold at all when the watermark has not moved).
    expect((await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS })).series ?? 0).toBe(0);
  });

  it("the loop's first fold takes the backlog; foldNow answers the fold it ran after it", async () => {
    await insertSamples(ctx.db, [{ name: 'fold_d', metric_type: 'gauge', value: 1, timestamp: Date.now() - 5000 }]);
    const loop = startFoldLoop(ctx.db, createLogger('error'), { intervalMs: 3_600_000, retentionDays: RETENTION_DAYS });
    try {
      expect((await loop.foldNow()).series ?? 0).toBe(0);
      const { rows } = await ctx.db.query("SELECT sample_count::int AS n FROM metric_series WHERE name = 'fold_d'");
      expect(rows).toEqual([{ n: 1 }]);
    } finally {
      await loop.stop();
    }
  });
});
