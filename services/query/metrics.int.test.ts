/**
 * GET /metrics (filters, downsampling with every aggregation against hand-computed values), GET /stats and
 * GET /metrics/prometheus (parsed by a real parser), against a real PostgreSQL.
 */
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { ensureAllPartitions } from '../../shared/db/partitions.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples } from '../../test/helpers/rows.ts';
import type { QueryHandle } from './index.ts';

/** The counter increments one drain of an aggregated histogram sends: `lat_ms_bucket{le}` per bound. */
function bucketSamples(timestamp: number, labels: Record<string, string>, counts: Record<string, number>) {
  return Object.entries(counts).map(([le, value]) => ({
    timestamp,
    name: 'lat_ms_bucket',
    metric_type: 'counter',
    value,
    labels: { ...labels, le },
  }));
}

describe('metrics queries, stats and the Prometheus exposition', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  // An even-minute boundary 30 minutes ago: buckets of step=1m start at T and T+60s, of step=2m at T.
  const T = Math.floor(Date.now() / 120_000) * 120_000 - 30 * 60_000;
  const range = `start_time=${new Date(T).toISOString()}&end_time=${new Date(T + 119_000).toISOString()}`;

  const get = async (url: string, role: 'user' | 'moderator' = 'user') => {
    const res = await api.app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${role === 'user' ? token : ctx.token(role)}` },
    });
    return {
      status: res.statusCode,
      body: String(res.headers['content-type']).startsWith('application/json') ? res.json() : res.body,
      headers: res.headers,
    };
  };
  const series = async (query: string) => {
    const { status, body } = await get(`/api/v1/monitoring/metrics?${query}&${range}`);
    expect(status, JSON.stringify(body)).toBe(200);
    return body.data;
  };
  const fold = () => (api.roles.find((r) => r.name === 'query') as QueryHandle).fold.foldNow();

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query', { QUERY_FOLD_INTERVAL_SECONDS: '3600' });
    token = ctx.token('user');
    await insertSamples(ctx.db, [
      // counter increments
      { timestamp: T + 0, name: 'req_total', metric_type: 'counter', value: 1, labels: { method: 'GET' } },
      { timestamp: T + 10_000, name: 'req_total', metric_type: 'counter', value: 2, labels: { method: 'GET' } },
      { timestamp: T + 70_000, name: 'req_total', metric_type: 'counter', value: 3, labels: { method: 'GET' } },
      { timestamp: T + 5_000, name: 'req_total', metric_type: 'counter', value: 4, labels: { method: 'POST' } },
      // gauge
      { timestamp: T + 0, name: 'temp', metric_type: 'gauge', value: 10, labels: { room: 'a' } },
      { timestamp: T + 40_000, name: 'temp', metric_type: 'gauge', value: 60, labels: { room: 'a' } },
      { timestamp: T + 20_000, name: 'temp', metric_type: 'gauge', value: 20, labels: { room: 'a' } },
      // histogram observations 1..10 in the first minute, 0.003 in the second
      ...Array.from({ length: 10 }, (_, i) => ({
        timestamp: T + i * 1000,
        name: 'lat',
        metric_type: 'histogram',
        value: i + 1,
      })),
      { timestamp: T + 61_000, name: 'lat', metric_type: 'histogram', value: 0.003 },
      // A histogram kept as bucket counters (the SDK's aggregated histograms): two drains of route /a in the first
      // minute adding up to the cumulative counts le=10: 2, le=50: 6, le=100: 9, +Inf: 10; route /b in the second.
      ...bucketSamples(T + 10_000, { route: '/a' }, { '10': 1, '50': 4, '100': 6, '+Inf': 7 }),
      ...bucketSamples(T + 20_000, { route: '/a' }, { '10': 1, '50': 2, '100': 3, '+Inf': 3 }),
      ...bucketSamples(T + 70_000, { route: '/b' }, { '10': 4, '50': 4, '100': 4, '+Inf': 4 }),
    ]);
  });
  afterAll(() => ctx?.cleanup());

  it('downsamples counters: sum, count and rate (increments per second) per label set and bucket', async () => {
    const point = (offset: number, value: number) => ({ timestamp: new Date(T + offset).toISOString(), value });
    expect(await series('name=req_total&step=1m&agg=sum')).toEqual([
      { name: 'req_total', metric_type: 'counter', labels: { method: 'GET' }, points: [point(0, 3), point(60_000, 3)] },
      { name: 'req_total', metric_type: 'counter', labels: { method: 'POST' }, points: [point(0, 4)] },
    ]);
    expect((await series('name=req_total&step=1m&agg=rate')).map((s: { points: unknown }) => s.points)).toEqual([
      [point(0, 3 / 60), point(60_000, 3 / 60)],
      [point(0, 4 / 60)],
    ]);
    expect((await series('name=req_total&step=60s&agg=count')).map((s: { points: unknown }) => s.points)).toEqual([
      [point(0, 2), point(60_000, 1)],
      [point(0, 1)],
    ]);
    expect(
      (await series('name=req_total&step=2m&agg=sum&label.method=GET')).map((s: { points: unknown }) => s.points),
    ).toEqual([[point(0, 6)]]);
    // limit/offset page through series ordered by labels
    expect(
      (await series('name=req_total&step=1m&agg=sum&limit=1&offset=1')).map((s: { labels: unknown }) => s.labels),
    ).toEqual([{ method: 'POST' }]);
  });

  it('downsamples gauges (avg, min, max) and histograms (exact p50, p95, p99 with linear interpolation)', async () => {
    const only = async (query: string) => (await series(query))[0].points[0].value;
    expect(await only('name=temp&step=1m&agg=avg')).toBe(30);
    expect(await only('name=temp&step=1m')).toBe(30); // avg is the default
    expect(await only('name=temp&step=1m&agg=min')).toBe(10);
    expect(await only('name=temp&step=1m&agg=max')).toBe(60);
    expect(await only('name=lat&step=1m&agg=p50')).toBeCloseTo(5.5, 10);
    expect(await only('name=lat&step=1m&agg=p95')).toBeCloseTo(1 + 0.95 * 9, 10);
    expect(await only('name=lat&step=1m&agg=p99')).toBeCloseTo(1 + 0.99 * 9, 10);
    expect((await series('name=lat&step=1m&agg=p99'))[0].points[1]).toEqual({
      timestamp: new Date(T + 60_000).toISOString(),
      value: 0.003,
    });
  });

  it('estimates p50/p95/p99 of a histogram kept as bucket counters like histogram_quantile, either name', async () => {
    const point = (offset: number, value: number) => ({ timestamp: new Date(T + offset).toISOString(), value });
    // /a: rank 5 of 10 lies in (10, 50] with 2 below and 4 inside → 10 + 40 × 3/4 = 40; /b: rank 2 of 4 in [0, 10] → 5.
    expect(await series('name=lat_ms&step=1m&agg=p50')).toEqual([
      { name: 'lat_ms', metric_type: 'histogram', labels: { route: '/a' }, points: [point(0, 40)] },
      { name: 'lat_ms', metric_type: 'histogram', labels: { route: '/b' }, points: [point(60_000, 5)] },
    ]);
    // Rank 9.5 of 10 falls in +Inf: the highest finite bound, as Prometheus answers.
    expect(await series('name=lat_ms_bucket&step=2m&agg=p95&label.route=/a')).toEqual([
      { name: 'lat_ms_bucket', metric_type: 'histogram', labels: { route: '/a' }, points: [point(0, 100)] },
    ]);
    expect(
      (await series('name=lat_ms&step=1m&agg=p99&limit=1&offset=1')).map((s: { labels: unknown }) => s.labels),
    ).toEqual([{ route: '/b' }]);
    // A histogram with stored observations is answered from them, not from buckets.
    expect((await series('name=lat&step=1m&agg=p50'))[0].points[0].value).toBeCloseTo(5.5, 10);
  });

  it('lists raw samples newest first with name, type, label and time filters, limit and offset', async () => {
    const { body } = await get(`/api/v1/monitoring/metrics?name=req_total&label.method=GET&${range}&limit=2`);
    expect(body).toEqual({
      success: true,
      data: [
        {
          id: expect.any(String),
          name: 'req_total',
          metric_type: 'counter',
          value: 3,
          labels: { method: 'GET' },
          timestamp: new Date(T + 70_000).toISOString(),
          created_by: 'test',
          created_at: expect.any(String),
        },
        {
          id: expect.any(String),
          name: 'req_total',
          metric_type: 'counter',
          value: 2,
          labels: { method: 'GET' },
          timestamp: new Date(T + 10_000).toISOString(),
          created_by: 'test',
          created_at: expect.any(String),
        },
      ],
    });
    const values = async (q: string) =>
      (await get(`/api/v1/monitoring/metrics?${q}`)).body.data.map((s: { value: number }) => s.value);
    expect(await values('name=req_total&label.method=GET&limit=2&offset=2')).toEqual([1]);
    expect(await values('metric_type=gauge')).toEqual([60, 20, 10]);
    expect(await values(`name=temp&end_time=${new Date(T + 20_000).toISOString()}`)).toEqual([20, 10]);
  });

  it('caps series × points of a downsampled answer, saying how to narrow it', async () => {
    // Default range (the last hour) at 1 s: 3601 points per series, fine for the default page of 100 series.
    expect((await get('/api/v1/monitoring/metrics?name=temp&step=1s')).status).toBe(200);
    const message =
      'gives up to 1000 series (limit) × 3601 points = 3601000 points, more than 1100000; use a larger step, a ' +
      'shorter range, ' +
      'or a smaller limit (at most 305 series at this step and range) and page through the series with offset';
    expect(await get('/api/v1/monitoring/metrics?name=temp&step=1s&limit=1000')).toMatchObject({
      status: 400,
      body: {
        success: false,
        error: { code: 'VIGIL_ERR_VALIDATION', message: `step: ${message}`, details: [{ field: 'step', message }] },
      },
    });
    expect((await get('/api/v1/monitoring/metrics?name=temp&step=1s&limit=305')).status).toBe(200);
  });

  it('refuses bad parameters with 400 naming each one', async () => {
    const cases: [string, string, RegExp][] = [
      ['name=temp&step=1m&agg=rate', 'agg', /rate applies to counter metrics; temp is a gauge/],
      ['name=req_total&step=1m&agg=p95', 'agg', /p95 applies to histogram and summary metrics; req_total is a counter/],
      ['name=temp&step=1m&agg=median', 'agg', /must be one of avg, min, max, sum, count, rate, p50, p95, p99/],
      [
        'name=lat_ms_bucket&step=1m&agg=p95&metric_type=counter',
        'agg',
        /p95 applies to histogram and summary metrics, not counter/,
      ],
      ['name=lat_ms_bucket&step=0s&agg=p95', 'step', /must be a duration/],
      ['step=1m', 'name', /is required with step/],
      ['name=temp&agg=avg', 'step', /is required with agg/],
      ['name=temp&step=0s', 'step', /must be a duration/],
      ['name=temp&step=fast', 'step', /must be a duration/],
      [
        'name=temp&step=1s&start_time=2024-01-01T00:00:00Z&end_time=2024-01-02T00:00:00Z',
        'step',
        /more than 11000 points/,
      ],
      ['metric_type=meter', 'metric_type', /must be one of counter, gauge, histogram, summary/],
      ['start_time=2024-01-02T00:00:00Z&end_time=2024-01-01T00:00:00Z', 'end_time', /must not be before start_time/],
      ['limit=5000', 'limit', /from 1 to 1000/],
      ['labels=x', 'labels', /is not a known parameter/],
    ];
    for (const [query, field, message] of cases) {
      const { status, body } = await get(`/api/v1/monitoring/metrics?${query}`);
      expect(status, query).toBe(400);
      expect(body.error.details, query).toEqual([{ field, message: expect.stringMatching(message) }]);
    }
  });

  describe('GET /stats and GET /metrics/prometheus', () => {
    let parsed: Map<string, ParsedFamily>;
    const scrape = async () => {
      const { status, body, headers } = await get('/api/v1/monitoring/metrics/prometheus', 'moderator');
      expect(status).toBe(200);
      expect(headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      return body as string;
    };

    beforeAll(async () => {
      // The rollups below are placed relative to the current minute: keep clear of a minute boundary.
      const untilNextMinute = 60_000 - (Date.now() % 60_000);
      if (untilNextMinute < 5000) await new Promise((r) => setTimeout(r, untilNextMinute + 100));
      const now = Date.now();
      await insertSamples(ctx.db, [
        { timestamp: now - 60_000, name: 'rpc_seconds', metric_type: 'summary', value: 1 },
        { timestamp: now - 50_000, name: 'rpc_seconds', metric_type: 'summary', value: 3 },
        { timestamp: now - 3_600_000, name: 'rpc_seconds', metric_type: 'summary', value: 100 },
        {
          timestamp: now - 60_000,
          name: 'odd_labels',
          metric_type: 'gauge',
          value: 7,
          labels: { path: 'C:\\dir "x"\nnext' },
        },
        // collides with the histogram lat
        { timestamp: now - 60_000, name: 'lat_count', metric_type: 'gauge', value: 1 },
        { timestamp: now - 60_000, name: 'req_total', metric_type: 'gauge', value: 5 }, // same name, another type
      ]);
      await ensureAllPartitions(ctx.db, 'day', now - 3 * 86_400_000, now);
      await ctx.db.query(`INSERT INTO rollups (bucket, kind, event_type, source, level, count) VALUES
        (date_trunc('minute', now()), 'event', 'log', 'api', 'info', 7),
        (date_trunc('minute', now()) - interval '59 minutes', 'event', 'log', 'api', 'info', 5),
        (date_trunc('minute', now()) - interval '60 minutes', 'event', 'alert', 'api', 'error', 11),
        (date_trunc('minute', now()) - interval '2 days', 'metric', 'gauge', 'temp', '', 13)`);
      // The all-time totals the writer keeps beside them, per day and Kafka partition (-1: derived by migration 0009).
      await ctx.db.query(`INSERT INTO ingest_totals (day, kind, partition, count) VALUES
        (current_date, 'event', 0, 12), (current_date - 1, 'event', -1, 11), (current_date - 2, 'metric', 3, 13)`);
      const rule = uuidv4();
      await ctx.db.query(`INSERT INTO alert_rules (id, name, query) VALUES ($1, 'cpu', 'cpu_usage > 80')`, [rule]);
      await ctx.db.query(
        `INSERT INTO alert_instances (rule_id, fingerprint, labels, state, value, active_at) VALUES
          ($1, 'a', '{}', 'firing', 90, now()), ($1, 'b', '{}', 'firing', 91, now()), ($1, 'c', '{}', 'pending', 85,
            now())`,
        [rule],
      );
      parsed = new Map(parsePrometheusTextFormat(await scrape()).map((f) => [f.name, f]));
    });

    it("GET /stats answers the contract's six statistics from the day totals, rollups and alert states", async () => {
      expect(await get('/api/v1/monitoring/stats', 'moderator')).toMatchObject({
        status: 200,
        body: {
          success: true,
          data: {
            total_events: 23,
            total_metrics: 13,
            active_alerts: 2,
            open_incidents: 0,
            events_last_hour: 12,
            metrics_last_hour: 0,
          },
        },
      });
      expect(Object.keys((await get('/api/v1/monitoring/stats', 'moderator')).body.data)).toEqual([
        'total_events',
        'total_metrics',
        'active_alerts',
        'open_incidents',
        'events_last_hour',
        'metrics_last_hour',
      ]);
    });

    it("exposes the contract's series with their names and types", () => {
      const value = (name: string) => ({ type: parsed.get(name)?.type, value: parsed.get(name)?.metrics[0].value });
      expect(value('monitoring_total_events')).toEqual({ type: 'COUNTER', value: '23' });
      expect(parsed.get('monitoring_total_events')?.help).toBe('Total number of events in the system');
      expect(value('monitoring_active_alerts')).toEqual({ type: 'GAUGE', value: '2' });
      expect(parsed.get('monitoring_active_alerts')?.help).toBe('Number of currently active alerts');
      expect(value('monitoring_total_metrics')).toEqual({ type: 'GAUGE', value: '13' });
      expect(value('monitoring_open_incidents')).toEqual({ type: 'GAUGE', value: '0' });
      expect(value('monitoring_events_last_hour')).toEqual({ type: 'GAUGE', value: '12' });
      expect(value('monitoring_metrics_last_hour')).toEqual({ type: 'GAUGE', value: '0' });
    });

    it('exposes stored counters as running totals, gauges as the newest value, histograms, summaries in full', () => {
      expect(parsed.get('req_total')).toMatchObject({
        type: 'COUNTER',
        metrics: [
          { labels: { method: 'GET' }, value: '6' },
          { labels: { method: 'POST' }, value: '4' },
        ],
      });
      expect(parsed.get('temp')).toMatchObject({ type: 'GAUGE', metrics: [{ labels: { room: 'a' }, value: '60' }] });
      const lat = parsed.get('lat')!;
      expect(lat.type).toBe('HISTOGRAM');
      expect(lat.metrics[0].count).toBe('11');
      expect(Number(lat.metrics[0].sum)).toBeCloseTo(55.003, 10);
      expect(lat.metrics[0].buckets).toMatchObject({
        '0.005': '1',
        '0.01': '1',
        '1': '2',
        '2.5': '3',
        '5': '6',
        '10': '11',
        '10000': '11',
      });
      const rpc = parsed.get('rpc_seconds')!;
      // (the parser folds histograms and summaries into one entry per family, so these two carry no labels; labelled
      // ones are checked through a real Prometheus in prometheus-scrape.int.test.ts)
      expect(rpc).toMatchObject({ type: 'SUMMARY', metrics: [{ count: '3', sum: '104' }] });
      // Quantiles of the last 10 minutes only (1 and 3; the 100 is an hour old), linear interpolation.
      const q = rpc.metrics[0].quantiles!;
      expect(Object.keys(q)).toEqual(['0.5', '0.9', '0.99']);
      expect([Number(q['0.5']), Number(q['0.9']), Number(q['0.99'])].map((v) => Math.round(v * 1e9) / 1e9)).toEqual([
        2, 2.8, 2.98,
      ]);
      expect(parsed.get('odd_labels')?.metrics[0].labels).toEqual({ path: 'C:\\dir "x"\nnext' });
      // Colliding families are left out: lat_count is the histogram's sample name; req_total is already a counter.
      expect(parsed.has('lat_count')).toBe(false);
      expect(parsed.get('req_total')?.type).toBe('COUNTER');
    });

    it('answers the same after a fold; counts a late sample exactly once before and after the next fold', async () => {
      const before = await scrape();
      const result = await fold();
      expect(result).toMatchObject({ folded: true });
      expect(await scrape()).toBe(before);
      const { rows } = await ctx.db.query<{ n: string }>('SELECT count(*) AS n FROM metric_series');
      expect(Number(rows[0].n)).toBeGreaterThan(5);

      await insertSamples(ctx.db, [
        { timestamp: T - 86_400_000, name: 'req_total', metric_type: 'counter', value: 100, labels: { method: 'GET' } },
      ]);
      const counter = (text: string) =>
        parsePrometheusTextFormat(text).find((f) => f.name === 'req_total')!.metrics[0].value;
      expect(counter(await scrape())).toBe('106');
      await fold();
      expect(counter(await scrape())).toBe('106');
    });
  });
});
