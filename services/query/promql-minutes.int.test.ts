/**
 * The per-minute path of the PromQL loader (metric_minutes, kept by the series fold) gives exactly the answers of
 * the raw samples: random series (gauges, increment counters, a summary's _count and _sum) with gaps longer than
 * the lookback, samples exactly on whole minutes, several samples at one time, late samples; part folded, part in
 * the unfolded tail, then all folded; range queries at whole-minute steps evaluated both ways must be equal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Evaluator } from '../../shared/promql/engine.ts';
import { parseExpr } from '../../shared/promql/expr-parser.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples, type TestSample } from '../../test/helpers/rows.ts';
import { loadRequests } from './promql-api.ts';
import { Budget, loadSeries } from './promql-data.ts';
import { foldOnce, MINUTE_MS } from './series-fold.ts';

const HOUR = 3_600_000;
const SPAN = 3 * HOUR;
const RETENTION_DAYS = 30;

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
}

function generate(base: number, seed: number): TestSample[] {
  const next = random(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const out: TestSample[] = [];
  const series: { name: string; metric_type: string; labels: Record<string, string> }[] = [];
  for (let h = 0; h < 4; h++) {
    series.push({ name: 'mm_gauge', metric_type: 'gauge', labels: { host: `h${h}` } });
    series.push({ name: 'mm_total', metric_type: 'counter', labels: { host: `h${h}` } });
    series.push({ name: 'mm_latency', metric_type: 'summary', labels: { host: `h${h}` } });
  }
  for (const s of series) {
    let t = base + int(0, 30_000);
    while (t < base + SPAN) {
      const r = next();
      if (r < 0.1) t = Math.ceil(t / MINUTE_MS) * MINUTE_MS; // exactly on a whole minute
      const value = s.metric_type === 'gauge' ? int(-50, 50) : int(0, 10);
      out.push({ ...s, timestamp: t, value });
      if (r > 0.97) out.push({ ...s, timestamp: t, value: int(-50, 50) }); // a second sample at the same time
      t += r > 0.95 ? int(6, 15) * MINUTE_MS : int(1_000, 40_000); // gaps longer than the 5 min lookback
    }
  }
  return out;
}

describe('PromQL per-minute aggregates (metric_minutes) against raw samples', () => {
  let ctx: TestContext;
  const base = Math.floor((Date.now() - 4 * HOUR) / MINUTE_MS) * MINUTE_MS;
  const samples = generate(base, 20_261_207);

  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => {
    await ctx?.cleanup();
  });

  /** `perMinute`: whether the per-minute path applies (an offset that is not whole minutes reads samples). */
  const queries = [
    { query: 'mm_gauge', perMinute: true },
    { query: 'mm_total', perMinute: true },
    { query: 'mm_latency_count', perMinute: true },
    { query: 'mm_latency_sum', perMinute: true },
    { query: 'sum by (host) (mm_total)', perMinute: true },
    { query: 'mm_gauge offset 2m', perMinute: true },
    { query: 'mm_total offset 30s', perMinute: false },
    { query: 'avg(mm_gauge{host=~"h[12]"})', perMinute: true },
    { query: 'mm_gauge{host="h3"}', perMinute: true },
  ];
  const windows = [
    { start: base + 10 * MINUTE_MS, end: base + SPAN, step: MINUTE_MS },
    { start: base, end: base + SPAN + 30_000, step: 2 * MINUTE_MS },
    { start: base + 7 * MINUTE_MS, end: base + 2 * HOUR + 17_000, step: 5 * MINUTE_MS },
    { start: base + HOUR, end: base + HOUR, step: MINUTE_MS },
  ];

  async function evaluate(query: string, w: (typeof windows)[number], minutes: boolean) {
    const expr = parseExpr(query);
    const budget = new Budget();
    const source = await loadSeries(ctx.db, loadRequests(expr, w.start, w.end, w.step), budget, { minutes });
    const result = new Evaluator(source).range(expr, w.start, w.end, w.step);
    result.sort((a, b) => (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1));
    return { result, read: budget.read };
  }

  async function expectSameAnswers(): Promise<void> {
    for (const { query, perMinute } of queries) {
      for (const w of windows) {
        const raw = await evaluate(query, w, false);
        const minutes = await evaluate(query, w, true);
        expect({ query, w, result: minutes.result }).toEqual({ query, w, result: raw.result });
        expect(raw.result.length).toBeGreaterThan(0);
        // The per-minute path read minute rows: fewer rows than samples (about 2.5 samples per minute here).
        if (!perMinute) expect(minutes.read).toBe(raw.read);
        else if (w.end - w.start > HOUR) expect(minutes.read).toBeLessThan(raw.read);
      }
    }
  }

  it('answers the same with part of the samples folded and the rest (late ones too) in the unfolded tail', async () => {
    const folded = samples.filter((_, i) => i % 3 !== 0);
    const tail = samples.filter((_, i) => i % 3 === 0);
    await insertSamples(ctx.db, folded);
    expect(await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS })).toMatchObject({ folded: true });
    await insertSamples(ctx.db, tail);
    const { rows } = await ctx.db.query<{ n: string; rows: string }>(
      'SELECT sum(sample_count)::text AS n, count(*)::text AS rows FROM metric_minutes',
    );
    expect(Number(rows[0].n)).toBe(folded.length);
    expect(Number(rows[0].rows)).toBeLessThan(folded.length);
    await expectSameAnswers();
  });

  it('answers the same once everything is folded, and a fold with nothing new changes no minute', async () => {
    expect(await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS })).toMatchObject({ folded: true });
    const snapshot = async () =>
      (await ctx.db.query('SELECT * FROM metric_minutes ORDER BY name, metric_type, series, minute')).rows;
    const before = await snapshot();
    expect(before.reduce((n, r) => n + Number(r.sample_count), 0)).toBe(samples.length);
    await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS });
    expect(await snapshot()).toEqual(before);
    await expectSameAnswers();
  });

  it('reads from its own watermark when a query replica older than metric_minutes folded in between', async () => {
    const late = generate(base, 7).map((s) => ({ ...s, name: 'mm_old_gauge', metric_type: 'gauge' }));
    await insertSamples(ctx.db, late);
    // What an older replica's fold leaves: metric_series and folded_before moved on, metric_minutes and its own
    // watermark not (here: a fold, then its minutes of these samples taken back).
    expect(await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS })).toMatchObject({ folded: true });
    await ctx.db.query("DELETE FROM metric_minutes WHERE name = 'mm_old_gauge'");
    await ctx.db.query(
      `UPDATE metric_series_fold
          SET minutes_before = (SELECT min(created_at) FROM metrics WHERE name = 'mm_old_gauge')`,
    );
    const w = windows[0];
    const answers = async () => [await evaluate('mm_old_gauge', w, false), await evaluate('mm_old_gauge', w, true)];
    let [raw, minutes] = await answers();
    expect(raw.result.length).toBe(4);
    expect(minutes.result).toEqual(raw.result);
    // All read from the samples (from the start of the minute holding the window start): none is in the minutes.
    expect(minutes.read).toBeGreaterThanOrEqual(raw.read);
    await insertSamples(ctx.db, [{ timestamp: base, name: 'mm_other', metric_type: 'gauge', value: 1 }]);
    expect(await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS })).toMatchObject({ folded: true });
    const { rows } = await ctx.db.query<{ n: string }>(
      "SELECT sum(sample_count)::text AS n FROM metric_minutes WHERE name = 'mm_old_gauge'",
    );
    expect(Number(rows[0].n)).toBe(late.length);
    [raw, minutes] = await answers();
    expect(minutes.result).toEqual(raw.result);
    expect(minutes.read).toBeLessThan(raw.read);
  });
});
