/**
 * Running totals (counters, `_count`, `_sum`) are the window's samples plus each series' state before the window,
 * and that state is read by a statement of its own: it must see the same snapshot as the window's rows. A sample
 * committed between the two statements would otherwise count in the state but not in the window, shifting every
 * point of the series by its value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { Evaluator } from '../../shared/promql/engine.ts';
import { parseExpr } from '../../shared/promql/expr-parser.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples, type TestSample } from '../../test/helpers/rows.ts';
import { loadRequests } from './promql-api.ts';
import { Budget, loadSeries } from './promql-data.ts';
import { foldOnce, MINUTE_MS } from './series-fold.ts';

/** Only the statement of the states before the window sums bucket counts with this function. */
const BASES_MARKER = 'vigil_add_counts(';

/** `pool`, running `inject` once right before the first statement that reads the states before the window. */
function injectingBeforeBases(pool: Pool, inject: () => Promise<void>): Pool {
  let injected = false;
  const before = async (text: unknown) => {
    if (injected || typeof text !== 'string' || !text.includes(BASES_MARKER)) return;
    injected = true;
    await inject();
  };
  const wrapQuery =
    <Q extends (...args: never[]) => unknown>(query: Q) =>
    async (...args: Parameters<Q>) => {
      await before(args[0]);
      return query(...args);
    };
  return new Proxy(pool, {
    get(target, prop) {
      if (prop === 'query') return wrapQuery(target.query.bind(target));
      if (prop === 'connect') {
        return async () => {
          const client = await target.connect();
          return new Proxy(client, {
            get: (c, p) => (p === 'query' ? wrapQuery(c.query.bind(c)) : Reflect.get(c, p, c)),
          });
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('PromQL running totals: the state before the window in the same snapshot as the window', () => {
  let ctx: TestContext;
  let pool: Pool;
  const start = Math.floor((Date.now() - 2 * 3_600_000) / MINUTE_MS) * MINUTE_MS;
  const end = start + 30 * MINUTE_MS;
  const increments: TestSample[] = Array.from({ length: 30 }, (_, i) => ({
    timestamp: start + i * MINUTE_MS + 15_000,
    name: 'snap_jobs_total',
    metric_type: 'counter',
    value: 1,
    labels: { queue: 'q1' },
  }));

  beforeAll(async () => {
    ctx = await createTestContext();
    pool = createPool(ctx.env.DATABASE_URL, 4, 'bases-test');
    // Increments before the window too (within the lookback of its first instant): the state before it is not zero.
    await insertSamples(ctx.db, [
      { ...increments[0], timestamp: start - 4 * MINUTE_MS, value: 5 },
      { ...increments[0], timestamp: start - 3 * MINUTE_MS, value: 2 },
      ...increments,
    ]);
  });
  afterAll(async () => {
    await pool?.end();
    await ctx?.cleanup();
  });

  async function runningTotals(query: string, step: number, minutes: boolean): Promise<number[]> {
    const expr = parseExpr(query);
    const late: TestSample = { ...increments[0], timestamp: start + 20 * MINUTE_MS + 5_000, value: 100 };
    const injecting = injectingBeforeBases(pool, () => insertSamples(ctx.db, [late]));
    const source = await loadSeries(injecting, loadRequests(expr, start, end, step), new Budget(), { minutes });
    const result = new Evaluator(source).range(expr, start, end, step);
    expect(result).toHaveLength(1);
    // The late increment is in the table now; the next query sees it in full.
    await ctx.db.query(`DELETE FROM metrics WHERE value = 100 AND name = 'snap_jobs_total'`);
    return result[0].values;
  }

  it('ignores a sample committed between the two statements, from raw samples and from minute aggregates', async () => {
    // Running totals: 7 before the window, then one increment a minute at start + 15 s, + 75 s, …
    const rawStep = 30_000;
    const raw = Array.from({ length: 61 }, (_, k) => 7 + Math.floor((k * rawStep + 45_000) / MINUTE_MS));
    expect(await runningTotals('snap_jobs_total', rawStep, false)).toEqual(raw);
    expect(await foldOnce(ctx.db, { retentionDays: 30 })).toMatchObject({ folded: true });
    const perMinute = Array.from({ length: 31 }, (_, i) => 7 + i);
    expect(await runningTotals('snap_jobs_total', MINUTE_MS, true)).toEqual(perMinute);
  });
});
