/**
 * The per-hour path of the PromQL loader (metric_hours, kept by the series fold from metric_minutes) gives exactly
 * the answers of the raw samples: random series (gauges with NaN values, increment counters, a summary's _count and
 * _sum) starting and ending mid-hour, with samples exactly on whole hours and gaps across hour boundaries longer
 * and shorter than the lookback; hours built a few per fold (part of the range from hours, part from minutes), late
 * samples into hours already built (part folded, part in the unfolded tail), and an older replica's fold that moved
 * metric_minutes without metric_hours. After every fold each hour row equals the packing of its minutes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Evaluator } from '../../shared/promql/engine.ts';
import { parseExpr } from '../../shared/promql/expr-parser.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples, type TestSample } from '../../test/helpers/rows.ts';
import { loadRequests } from './promql-api.ts';
import { HourCache } from './hour-cache.ts';
import { Budget, loadSeries } from './promql-data.ts';
import { foldOnce, hoursBuildSql, hoursBuiltPerFold, MINUTE_MS } from './series-fold.ts';

const HOUR = 3_600_000;
const HOURS = 9;
const RETENTION_DAYS = 30;
const BUILD_ROWS = 9 * 60 * 2;

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
}

/** Series over [from, to) (both mid-hour), each starting and ending at its own time. */
function generate(from: number, to: number, seed: number, prefix = 'mh'): TestSample[] {
  const next = random(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const out: TestSample[] = [];
  const series: { name: string; metric_type: string; labels: Record<string, string> }[] = [];
  for (let h = 0; h < 3; h++) {
    series.push({ name: `${prefix}_gauge`, metric_type: 'gauge', labels: { host: `h${h}` } });
    series.push({ name: `${prefix}_total`, metric_type: 'counter', labels: { host: `h${h}` } });
    series.push({ name: `${prefix}_latency`, metric_type: 'summary', labels: { host: `h${h}` } });
  }
  for (const s of series) {
    let t = from + int(0, 90) * MINUTE_MS + int(0, 59_999);
    const end = to - int(0, 90) * MINUTE_MS;
    while (t < end) {
      const r = next();
      if (r < 0.08)
        t = Math.ceil(t / HOUR) * HOUR; // exactly on a whole hour: the last minute of the hour before
      else if (r < 0.15) t = Math.ceil(t / MINUTE_MS) * MINUTE_MS;
      const gauge = s.metric_type === 'gauge';
      const value = gauge && r > 0.9 && r < 0.93 ? Number.NaN : gauge ? int(-50, 50) : int(0, 10);
      out.push({ ...s, timestamp: t, value });
      if (r > 0.97) out.push({ ...s, timestamp: t, value: int(-50, 50) }); // a second sample at the same time
      t += r > 0.95 ? int(3, 20) * MINUTE_MS : int(1_000, 50_000); // gaps shorter and longer than the lookback
    }
  }
  return out;
}

describe('PromQL per-hour aggregates (metric_hours) against raw samples', () => {
  let ctx: TestContext;
  const now = Date.now();
  const base = Math.floor(now / HOUR) * HOUR - (HOURS + 1) * HOUR + 23 * MINUTE_MS;
  const samples = generate(base, base + HOURS * HOUR, 20_261_208);

  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => {
    await ctx?.cleanup();
  });

  const queries = [
    'mh_gauge',
    'mh_total',
    'mh_latency_count',
    'mh_latency_sum',
    'sum by (host) (mh_total)',
    'mh_gauge offset 1h',
    'avg(mh_gauge{host=~"h[12]"})',
    'mh_gauge{host="h2"}',
  ];
  const windows = [
    { start: base - HOUR, end: base + (HOURS + 1) * HOUR, step: MINUTE_MS },
    { start: base + 37 * MINUTE_MS, end: base + 5 * HOUR + 17_000, step: 3 * MINUTE_MS },
    { start: Math.ceil(base / HOUR) * HOUR, end: Math.ceil(base / HOUR) * HOUR + 4 * HOUR, step: HOUR },
    { start: base + 2 * HOUR, end: base + 2 * HOUR, step: MINUTE_MS },
  ];

  /** Kept across the tests, as the query role keeps it: folds rewrite hours it holds. */
  const cache = new HourCache(64 * 2 ** 20);

  async function evaluate(query: string, w: (typeof windows)[number], minutes: boolean, hours?: HourCache) {
    const expr = parseExpr(query);
    const budget = new Budget();
    const requests = loadRequests(expr, w.start, w.end, w.step);
    const source = await loadSeries(ctx.db, requests, budget, { minutes, hours });
    const result = new Evaluator(source).range(expr, w.start, w.end, w.step);
    result.sort((a, b) => (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1));
    return { result, read: budget.read };
  }

  async function expectSameAnswers(): Promise<void> {
    let points = 0;
    for (const query of queries) {
      for (const w of windows) {
        const raw = await evaluate(query, w, false);
        const hours = await evaluate(query, w, true);
        expect({ query, w, result: hours.result }).toEqual({ query, w, result: raw.result });
        // From hours kept in memory, read now or before; and through a cache too small for a query's hours.
        for (const hoursCache of [cache, cache, new HourCache(20_000)]) {
          const cached = await evaluate(query, w, true, hoursCache);
          expect({ query, w, result: cached.result, read: cached.read }).toEqual({ query, w, ...hours });
        }
        points += raw.result.reduce((n, s) => n + s.values.length, 0);
      }
    }
    expect(points).toBeGreaterThan(queries.length * windows.length * 10);
  }

  async function state() {
    const { rows } = await ctx.db.query<{ hours_from: number; hours_before: number; synced: boolean }>(
      `SELECT hours_from, hours_before, hours_synced_before = minutes_before AS synced FROM metric_series_fold`,
    );
    return rows[0];
  }

  /** Every hour row equals the packing of its minutes now, and every hour in the held range with minutes has one. */
  async function expectHoursInStep(): Promise<void> {
    const { hours_from, hours_before } = await state();
    await ctx.db.query('DROP TABLE IF EXISTS expected_hours');
    await ctx.db.query('CREATE TABLE expected_hours (LIKE metric_hours)');
    const columns = 'name, metric_type, series, hour, last_ms, last_value, sample_counts, value_sums';
    await ctx.db.query(
      hoursBuildSql(`metric_minutes m WHERE m.minute > ${hours_from * 60} AND m.minute <= ${hours_before * 60}`)
        .replace('INSERT INTO metric_hours AS h', 'INSERT INTO expected_hours AS h')
        .replace(/ON CONFLICT[\s\S]*$/, ''),
    );
    const diff = await ctx.db.query(
      `(SELECT ${columns} FROM expected_hours EXCEPT ALL SELECT ${columns} FROM metric_hours)
        UNION ALL
       (SELECT ${columns} FROM metric_hours WHERE hour >= $1 AND hour < $2
        EXCEPT ALL SELECT ${columns} FROM expected_hours)`,
      [hours_from, hours_before],
    );
    expect(diff.rows).toEqual([]);
    const { rows } = await ctx.db.query<{ n: string }>('SELECT count(*)::text AS n FROM expected_hours');
    expect(Number(rows[0].n)).toBeGreaterThan(0);
  }

  it('builds hours a few per fold; the same answers with part of the range from hours, part from minutes', async () => {
    const folded = samples.filter((_, i) => i % 4 !== 0);
    await insertSamples(ctx.db, folded);
    // 3 names × 3 hosts = 9 series: a budget of 2 hours per fold.
    const first = await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS, hoursBuildRows: BUILD_ROWS });
    expect(first).toMatchObject({ folded: true, hoursPending: true });
    const held = await state();
    // The first fold starts at the current hour and builds as many older ones as its budget allows.
    expect(hoursBuiltPerFold(9, BUILD_ROWS)).toBe(2);
    expect(held.hours_before - held.hours_from).toBe(2);
    expect(held.hours_from * HOUR).toBeGreaterThan(base);
    await expectHoursInStep();
    await expectSameAnswers();
    let result = first;
    for (let i = 0; i < 10 && result.hoursPending; i++) {
      result = await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS, hoursBuildRows: BUILD_ROWS });
    }
    expect(result.hoursPending).toBe(false);
    expect((await state()).hours_from * HOUR).toBeLessThan(base);
    await expectHoursInStep();
    await expectSameAnswers();
  });

  it('answers the same with late samples in built hours, unfolded and then folded (the hours rebuilt)', async () => {
    const late = samples.filter((_, i) => i % 4 === 0);
    await insertSamples(ctx.db, late);
    await expectSameAnswers(); // the late samples come from the unfolded tail
    const rowsSql = `SELECT name, metric_type, series, hour, last_ms, last_value, sample_counts, value_sums
                       FROM metric_hours ORDER BY name, metric_type, series, hour`;
    const before = await ctx.db.query(rowsSql);
    expect(await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS })).toMatchObject({ folded: true });
    const after = await ctx.db.query(rowsSql);
    expect(after.rows.length).toBeGreaterThanOrEqual(before.rows.length); // a late sample may open an hour
    expect(after.rows).not.toEqual(before.rows);
    const { rows } = await ctx.db.query<{ n: string }>('SELECT sum(sample_count)::text AS n FROM metric_minutes');
    expect(Number(rows[0].n)).toBe(samples.length);
    await expectHoursInStep();
    await expectSameAnswers();
    // The hours read: a day's panel at step 1 m reads hour rows' entries, not samples.
    const raw = await evaluate('mh_gauge', windows[0], false);
    const hours = await evaluate('mh_gauge', windows[0], true);
    expect(hours.read).toBeLessThan(raw.read);
  });

  it('ignores hours an older replica left behind, and the next fold rebuilds them', async () => {
    // An older replica's fold merges late samples into metric_minutes and moves minutes_before, not metric_hours.
    await ctx.db.query('CREATE TABLE saved_hours AS SELECT * FROM metric_hours');
    const { rows } = await ctx.db.query<{ synced: Date }>(
      'SELECT hours_synced_before AS synced FROM metric_series_fold',
    );
    const more = generate(base, base + HOURS * HOUR, 99).map((s) => ({ ...s, labels: { host: 'late' } }));
    await insertSamples(ctx.db, more);
    expect(await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS })).toMatchObject({ folded: true });
    await ctx.db.query('TRUNCATE metric_hours');
    await ctx.db.query('INSERT INTO metric_hours SELECT * FROM saved_hours');
    await ctx.db.query('UPDATE metric_series_fold SET hours_synced_before = $1', [rows[0].synced]);
    expect((await state()).synced).toBe(false);
    await expectSameAnswers();
    expect(await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS })).toMatchObject({ folded: true });
    expect((await state()).synced).toBe(true);
    await expectHoursInStep();
    await expectSameAnswers();
  });
  it('keeps no hour with a minute past the retention, and the hours it keeps in step', async () => {
    const day = 24 * HOUR;
    const edge = Math.floor((Date.now() - RETENTION_DAYS * day) / HOUR) * HOUR;
    const old = generate(edge - 3 * HOUR, edge + 3 * HOUR, 5, 'mh_old');
    await insertSamples(ctx.db, old);
    let result = await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS, hoursBuildRows: BUILD_ROWS });
    for (let i = 0; i < 10 && result.hoursPending; i++) {
      result = await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS, hoursBuildRows: BUILD_ROWS });
    }
    expect(result.hoursPending).toBe(false);
    const { rows } = await ctx.db.query<{ cutoff: number; lowest: number | null; from: number; minutes: string }>(
      `SELECT ceil(extract(epoch FROM now() - make_interval(days => $1)) * 1000 / 60000)::integer AS cutoff,
              (SELECT min(hour) FROM metric_hours) AS lowest, (SELECT hours_from FROM metric_series_fold) AS from,
              (SELECT count(*) FROM metric_minutes WHERE name = 'mh_old_gauge')::text AS minutes`,
      [RETENTION_DAYS],
    );
    const { cutoff, lowest, from } = rows[0];
    expect(Number(rows[0].minutes)).toBeGreaterThan(0); // the newer part of the old series is kept
    expect(from * 60 + 1).toBeGreaterThanOrEqual(cutoff - 1); // the fold's cutoff is a little older than this one
    expect((lowest ?? from) * 60 + 1).toBeGreaterThanOrEqual(cutoff - 1);
    const { rows: kept } = await ctx.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM metric_hours WHERE name = 'mh_old_gauge'",
    );
    expect(Number(kept[0].n)).toBeGreaterThan(0);
    await expectHoursInStep();
    // A shorter retention: the hours held past it go, with their minutes.
    await insertSamples(ctx.db, [{ timestamp: Date.now(), name: 'mh_other', metric_type: 'gauge', value: 1 }]);
    expect(await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS - 1 })).toMatchObject({ folded: true });
    const { rows: after } = await ctx.db.query<{ hours: string; minutes: string; from: number }>(
      `SELECT (SELECT count(*) FROM metric_hours WHERE name = 'mh_old_gauge')::text AS hours,
              (SELECT count(*) FROM metric_minutes WHERE name = 'mh_old_gauge')::text AS minutes,
              (SELECT hours_from FROM metric_series_fold) AS from`,
    );
    expect(after[0]).toMatchObject({ hours: '0', minutes: '0' });
    expect(after[0].from).toBeGreaterThan(from);
    await expectHoursInStep();
    await expectSameAnswers(); // the recent series, from hours as before
  });

  it('answers a refresh from hours in memory, and a row rewritten by any writer from the table', async () => {
    const w = windows[0];
    const warm = new HourCache(64 * 2 ** 20);
    const first = await evaluate('mh_gauge', w, true, warm);
    expect(warm.misses).toBeGreaterThan(0);
    expect(warm.size).toBe(warm.misses);
    const misses = warm.misses;
    const again = await evaluate('mh_gauge', w, true, warm);
    expect(again).toEqual(first);
    expect(warm.misses).toBe(misses); // nothing read again
    expect(warm.hits).toBe(misses);
    // A row rewritten outside the fold (here by hand) gets a new version from the trigger: read again, new values.
    const { rows } = await ctx.db.query<{ hour: number; version: string }>(
      `UPDATE metric_hours SET last_value = (SELECT string_agg(float8send(42), ''::bytea)
                                                FROM generate_series(1, length(last_ms) / 8))
        WHERE (name, metric_type, series, hour) = (SELECT name, metric_type, series, hour FROM metric_hours
                                                    WHERE name = 'mh_gauge' ORDER BY hour DESC, series LIMIT 1 OFFSET 2)
        RETURNING hour, version::text`,
    );
    expect(rows).toHaveLength(1);
    const changed = await evaluate('mh_gauge', w, true, warm);
    expect(warm.misses).toBe(misses + 1);
    expect(changed).toEqual(await evaluate('mh_gauge', w, true, new HourCache(64 * 2 ** 20)));
    expect(changed.result).not.toEqual(first.result);
    const fortyTwos = changed.result.flatMap((s) => s.values.filter((v) => v === 42));
    expect(fortyTwos.length).toBeGreaterThan(0);
  });

  it('reads rows written before rows had versions from the table, until a fold stamps them', async () => {
    await ctx.db.query(`ALTER TABLE metric_hours DISABLE TRIGGER metric_hours_version;
                        UPDATE metric_hours SET version = NULL;
                        ALTER TABLE metric_hours ENABLE TRIGGER metric_hours_version`);
    const w = windows[0];
    const uncached = new HourCache(64 * 2 ** 20);
    const expected = await evaluate('mh_total', w, true);
    expect(await evaluate('mh_total', w, true, uncached)).toEqual(expected);
    expect(uncached.size).toBe(0);
    await insertSamples(ctx.db, [{ timestamp: Date.now(), name: 'mh_other', metric_type: 'gauge', value: 2 }]);
    expect(await foldOnce(ctx.db, { retentionDays: RETENTION_DAYS })).toMatchObject({ folded: true });
    const { rows } = await ctx.db.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM metric_hours WHERE version IS NULL',
    );
    expect(rows[0].n).toBe('0');
    expect(await evaluate('mh_total', w, true, uncached)).toEqual(expected);
    expect(uncached.size).toBeGreaterThan(0);
    const { hits } = uncached;
    expect(await evaluate('mh_total', w, true, uncached)).toEqual(expected);
    expect(uncached.hits).toBeGreaterThan(hits);
  });
});
