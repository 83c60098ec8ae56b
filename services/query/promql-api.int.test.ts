/**
 * The Prometheus-compatible API's wire contract against real PostgreSQL: the requests Grafana's Prometheus data
 * source sends on "Save & test" and in its metric browser, form POSTs, the error envelope with Prometheus' error
 * types and statuses (400 bad_data, 422 execution, 503 timeout), the bounds, and authentication (bearer header,
 * or the token as the Basic-auth password, which is how promtool sends it). promtool itself is in
 * promql-compare.int.test.ts.
 */
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { buildApp } from '../../shared/http/app.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples } from '../../test/helpers/rows.ts';
import type { QueryHandle } from './index.ts';
import { BUCKET_BOUNDS } from './series-fold.ts';
import { promqlRoutes } from './promql-api.ts';
import { formatValue } from './exposition.ts';

describe('Prometheus-compatible query API', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  const t0 = Math.floor((Date.now() - 2 * 3_600_000) / 60_000) * 60_000;

  const get = async (url: string, headers: Record<string, string> = { authorization: `Bearer ${token}` }) => {
    const res = await api.app.inject({ method: 'GET', url, headers });
    return { status: res.statusCode, body: res.json() };
  };
  const post = async (url: string, form: string) => {
    const res = await api.app.inject({
      method: 'POST',
      url,
      payload: form,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    return { status: res.statusCode, body: res.json() };
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query', { QUERY_FOLD_INTERVAL_SECONDS: '3600', QUERY_STATEMENT_TIMEOUT_MS: '300' });
    token = ctx.token('user', 'grafana');
    await insertSamples(ctx.db, [
      { timestamp: t0, name: 'cpu_usage', metric_type: 'gauge', value: 10, labels: { host: 'a' } },
      { timestamp: t0 + 60_000, name: 'cpu_usage', metric_type: 'gauge', value: 30, labels: { host: 'a' } },
      { timestamp: t0 + 60_000, name: 'cpu_usage', metric_type: 'gauge', value: 5, labels: { host: 'b' } },
      { timestamp: t0, name: 'jobs_total', metric_type: 'counter', value: 2, labels: { queue: 'q1' } },
      { timestamp: t0 + 60_000, name: 'jobs_total', metric_type: 'counter', value: 3, labels: { queue: 'q1' } },
      { timestamp: t0 + 30_000, name: 'latency_seconds', metric_type: 'histogram', value: 0.2, labels: { route: 'x' } },
    ]);
  });

  afterAll(async () => {
    await ctx?.cleanup();
  });

  it("answers Grafana's health check (1+1 near the epoch) with a scalar, by GET and by form POST", async () => {
    const expected = { status: 200, body: { status: 'success', data: { resultType: 'scalar', result: [4, '2'] } } };
    expect(await get('/prometheus/api/v1/query?query=1%2B1&time=4')).toEqual(expected);
    expect(await post('/prometheus/api/v1/query', 'query=1%2B1&time=4')).toEqual(expected);
  });

  it('answers buildinfo, and empty rules and exemplars', async () => {
    const build = await get('/prometheus/api/v1/status/buildinfo');
    expect(build.status).toBe(200);
    expect(build.body.status).toBe('success');
    expect(build.body.data.version).toBe('2.42.0');
    expect(await get('/prometheus/api/v1/rules')).toEqual({
      status: 200,
      body: { status: 'success', data: { groups: [] } },
    });
    const exemplars = `/prometheus/api/v1/query_exemplars?query=cpu_usage&start=${t0 / 1000}&end=${t0 / 1000 + 60}`;
    expect(await get(exemplars)).toEqual({ status: 200, body: { status: 'success', data: [] } });
  });

  it('serves the metric browser: labels, __name__ values, series and metadata', async () => {
    const range = `start=${t0 / 1000 - 3600}&end=${t0 / 1000 + 3600}`;
    expect(await get(`/prometheus/api/v1/labels?${range}`)).toEqual({
      status: 200,
      body: { status: 'success', data: ['__name__', 'host', 'le', 'queue', 'route'] },
    });
    expect(await get(`/prometheus/api/v1/label/__name__/values?${range}`)).toEqual({
      status: 200,
      body: {
        status: 'success',
        data: ['cpu_usage', 'jobs_total', 'latency_seconds_bucket', 'latency_seconds_count', 'latency_seconds_sum'],
      },
    });
    expect(await get(`/prometheus/api/v1/label/host/values?match[]=cpu_usage&${range}`)).toEqual({
      status: 200,
      body: { status: 'success', data: ['a', 'b'] },
    });
    const series = await post(
      '/prometheus/api/v1/series',
      `match[]=${encodeURIComponent('cpu_usage{host="a"}')}&match[]=jobs_total&${range}`,
    );
    expect(series.status).toBe(200);
    expect(
      series.body.data.sort((x: { __name__: string }, y: { __name__: string }) => (x.__name__ < y.__name__ ? -1 : 1)),
    ).toEqual([
      { __name__: 'cpu_usage', host: 'a' },
      { __name__: 'jobs_total', queue: 'q1' },
    ]);
    const buckets = await get(`/prometheus/api/v1/series?match[]=latency_seconds_bucket&${range}`);
    expect(buckets.body.data.map((s: { le: string }) => s.le)).toEqual(
      [...BUCKET_BOUNDS.map(formatValue), '+Inf'].sort(),
    );
    expect(await get('/prometheus/api/v1/metadata')).toEqual({
      status: 200,
      body: {
        status: 'success',
        data: {
          cpu_usage: [{ type: 'gauge', help: 'gauge stored in vigil', unit: '' }],
          jobs_total: [{ type: 'counter', help: 'counter stored in vigil', unit: '' }],
          latency_seconds: [{ type: 'histogram', help: 'histogram stored in vigil', unit: '' }],
        },
      },
    });
  });

  it("replays Grafana's requests in order: save & test, then the metric browser, then a panel", async () => {
    const start = Math.floor(t0 / 1000) - 3600;
    const end = Math.floor(t0 / 1000) + 3600;
    const steps: [string, string, string | null, (body: { status: string; data: unknown }) => void][] = [
      [
        'POST',
        '/prometheus/api/v1/query',
        'query=1%2B1&time=4',
        (b) => expect(b.data).toEqual({ resultType: 'scalar', result: [4, '2'] }),
      ],
      [
        'GET',
        '/prometheus/api/v1/status/buildinfo',
        null,
        (b) => expect((b.data as { version: string }).version).toBe('2.42.0'),
      ],
      ['GET', `/prometheus/api/v1/labels?start=${start}&end=${end}`, null, (b) => expect(b.data).toContain('host')],
      [
        'GET',
        `/prometheus/api/v1/label/__name__/values?start=${start}&end=${end}`,
        null,
        (b) => expect(b.data).toContain('cpu_usage'),
      ],
      ['GET', '/prometheus/api/v1/metadata', null, (b) => expect(Object.keys(b.data as object)).toContain('cpu_usage')],
      [
        'GET',
        `/prometheus/api/v1/series?match%5B%5D=${encodeURIComponent('{__name__="cpu_usage"}')}` +
          `&start=${start}&end=${end}`,
        null,
        (b) =>
          expect(b.data).toEqual([
            { __name__: 'cpu_usage', host: 'a' },
            { __name__: 'cpu_usage', host: 'b' },
          ]),
      ],
      [
        'GET',
        `/prometheus/api/v1/label/host/values?match%5B%5D=${encodeURIComponent('{__name__="cpu_usage"}')}&start=` +
          `${start}&end=${end}`,
        null,
        (b) => expect(b.data).toEqual(['a', 'b']),
      ],
      [
        'POST',
        '/prometheus/api/v1/query_range',
        `query=${encodeURIComponent('max by (host) (cpu_usage)')}&start=${t0 / 1000}&end=${t0 / 1000 + 60}&step=60`,
        (b) =>
          expect(b.data).toEqual({
            resultType: 'matrix',
            result: [
              {
                metric: { host: 'a' },
                values: [
                  [t0 / 1000, '10'],
                  [t0 / 1000 + 60, '30'],
                ],
              },
              { metric: { host: 'b' }, values: [[t0 / 1000 + 60, '5']] },
            ],
          }),
      ],
    ];
    for (const [method, url, form, check] of steps) {
      const res = await api.app.inject({
        method: method as 'GET' | 'POST',
        url,
        ...(form === null ? {} : { payload: form }),
        headers: {
          authorization: `Bearer ${token}`,
          ...(form === null ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
      });
      expect({ url, status: res.statusCode }).toEqual({ url, status: 200 });
      const body = res.json();
      expect(body.status).toBe('success');
      check(body);
    }
  });

  it('answers instant and range queries with counters as running totals', async () => {
    const at = (t0 + 90_000) / 1000;
    expect(await get(`/prometheus/api/v1/query?query=jobs_total&time=${at}`)).toEqual({
      status: 200,
      body: {
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: { __name__: 'jobs_total', queue: 'q1' }, value: [at, '5'] }] },
      },
    });
    const range = await post(
      '/prometheus/api/v1/query_range',
      `query=sum(cpu_usage)&start=${t0 / 1000}&end=${t0 / 1000 + 60}&step=30`,
    );
    expect(range).toEqual({
      status: 200,
      body: {
        status: 'success',
        data: {
          resultType: 'matrix',
          result: [
            {
              metric: {},
              values: [
                [t0 / 1000, '10'],
                [t0 / 1000 + 30, '10'],
                [t0 / 1000 + 60, '35'],
              ],
            },
          ],
        },
      },
    });
    const bucket = await get(
      `/prometheus/api/v1/query?query=${encodeURIComponent('latency_seconds_bucket{le="0.25"}')}&time=${at}`,
    );
    expect(bucket.body.data.result).toEqual([
      { metric: { __name__: 'latency_seconds_bucket', route: 'x', le: '0.25' }, value: [at, '1'] },
    ]);
  });

  it('answers 400 bad_data for syntax errors, unsupported functions, bad parameters, naming the problem', async () => {
    const cases: [string, RegExp][] = [
      ['/prometheus/api/v1/query?query=sum(', /^invalid parameter "query": unexpected end of query/],
      ['/prometheus/api/v1/query?query=deriv(cpu_usage%5B5m%5D)', /function deriv\(\) is not supported by vigil/],
      ['/prometheus/api/v1/query?query=cpu_usage&time=yesterday', /invalid parameter "time": cannot parse "yesterday"/],
      ['/prometheus/api/v1/query', /invalid parameter "query": the parameter is required/],
      [
        '/prometheus/api/v1/query_range?query=cpu_usage&start=0&end=100000&step=1',
        /exceeded maximum resolution of 11000 points/,
      ],
      [
        '/prometheus/api/v1/query_range?query=cpu_usage&start=10&end=0&step=1',
        /end timestamp must not be before start time/,
      ],
      ['/prometheus/api/v1/series', /no match\[\] parameter provided/],
    ];
    for (const [url, message] of cases) {
      const res = await get(url);
      expect({ url, status: res.status, status2: res.body.status, type: res.body.errorType }).toEqual({
        url,
        status: 400,
        status2: 'error',
        type: 'bad_data',
      });
      expect(res.body.error).toMatch(message);
    }
  });

  it('answers 422 execution for a many-to-many match', async () => {
    const res = await get(
      `/prometheus/api/v1/query?query=${encodeURIComponent('cpu_usage + on() cpu_usage')}&time=${(t0 + 90_000) / 1000}`,
    );
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ status: 'error', errorType: 'execution' });
    expect(res.body.error).toMatch(/many-to-many matching not allowed/);
  });

  it('bounds the samples a query holds and reads: beyond either, 400 bad_data saying how to narrow it', async () => {
    const limited = async (limits: { maxSamples: number; maxSamplesRead?: number }, query: string) => {
      const app = await buildApp({
        logger: ctx.logger,
        auth: ctx.config.auth,
        registry: new Registry(),
        routes: [promqlRoutes(ctx.db, limits)],
        readiness: {},
      });
      try {
        const url = `/prometheus/api/v1/query?query=${encodeURIComponent(query)}&time=${(t0 + 90_000) / 1000}`;
        const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
        return { status: res.statusCode, body: res.json() };
      } finally {
        await app.close();
      }
    };
    // A range selector holds every sample of its window: 3 here.
    expect(await limited({ maxSamples: 2 }, 'count_over_time(cpu_usage[5m])')).toEqual({
      status: 400,
      body: {
        status: 'error',
        errorType: 'bad_data',
        error:
          'the query reads more than 2 samples (series × points): narrow the time range, add label matchers, ' +
          'make the step longer, or shorten the ranges in [..]',
      },
    });
    // An instant selector holds one sample per series and step (2), but reads the 3 stored ones.
    expect(await limited({ maxSamples: 2 }, 'cpu_usage')).toMatchObject({ status: 200, body: { status: 'success' } });
    expect(await limited({ maxSamples: 10, maxSamplesRead: 2 }, 'cpu_usage')).toEqual({
      status: 400,
      body: {
        status: 'error',
        errorType: 'bad_data',
        error:
          'the query reads more than 2 stored samples: narrow the time range, add label matchers, ' +
          'or shorten the ranges in [..]',
      },
    });
  });

  it('reads samples stored out of time order in time order, the greater of two at one time kept', async () => {
    const base = t0 + 10 * 60_000;
    const sample = (dt: number, value: number) => ({
      timestamp: base + dt,
      name: 'order_probe',
      metric_type: 'gauge',
      value,
      labels: { host: 'a' },
    });
    // Newest first, so that the table holds them against time order; two at base + 60 s.
    await insertSamples(ctx.db, [sample(120_000, 3), sample(60_000, 7), sample(60_000, 2), sample(0, 1)]);
    const instant = async (query: string, t: number) => {
      const res = await get(`/prometheus/api/v1/query?query=${encodeURIComponent(query)}&time=${t / 1000}`);
      return res.body.data.result.map((r: { value: [number, string] }) => r.value[1]);
    };
    expect(await instant('last_over_time(order_probe[10m])', base + 60_001)).toEqual(['7']);
    expect(await instant('count_over_time(order_probe[10m])', base + 180_000)).toEqual(['3']);
    expect(await instant('changes(order_probe[10m])', base + 180_000)).toEqual(['2']);
    // Instant selectors at a step that is not whole minutes: the step reduction, the same samples.
    const range = await get(
      `/prometheus/api/v1/query_range?query=order_probe&start=${base / 1000}&end=${(base + 150_000) / 1000}&step=30`,
    );
    expect(range.body.data.result[0].values).toEqual([
      [base / 1000, '1'],
      [base / 1000 + 30, '1'],
      [base / 1000 + 60, '7'],
      [base / 1000 + 90, '7'],
      [base / 1000 + 120, '3'],
      [base / 1000 + 150, '3'],
    ]);
  });

  it('answers a repeated range query from the hours it read before, and says so on GET /metrics', async () => {
    const hour = 3_600_000;
    const from = Math.floor(t0 / hour) * hour - 2 * hour;
    await insertSamples(
      ctx.db,
      Array.from({ length: 3 * 60 }, (_, i) => ({
        timestamp: from + i * 60_000 + 30_000,
        name: 'cache_probe',
        metric_type: 'gauge',
        value: i,
        labels: { host: i % 2 ? 'a' : 'b' },
      })),
    );
    const query = api.roles.find((r) => r.name === 'query') as QueryHandle;
    let fold = await query.fold.foldNow();
    for (let i = 0; i < 20 && fold.hoursPending; i++) fold = await query.fold.foldNow();
    expect(fold.hoursPending).toBe(false);
    const counters = async () => {
      const text = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
      const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
      return {
        hits: value('vigil_query_hour_cache_hits_total'),
        misses: value('vigil_query_hour_cache_misses_total'),
        bytes: value('vigil_query_hour_cache_bytes'),
      };
    };
    const url =
      `/prometheus/api/v1/query_range?query=cache_probe&start=${from / 1000}&end=${(from + 3 * hour) / 1000}` +
      '&step=60';
    const before = await counters();
    const first = await get(url);
    const read = await counters();
    const again = await get(url);
    const after = await counters();
    expect(first.status).toBe(200);
    // A sample every 2 minutes per host, each seen for the 5-minute lookback: every step after its first sample.
    expect(first.body.data.result.map((s: { values: unknown[] }) => s.values.length)).toEqual([179, 180]);
    expect(again).toEqual(first);
    // 2 series × the 3 hours holding their samples: read once, then taken from memory.
    expect(read.misses - before.misses).toBe(6);
    expect(read.hits - before.hits).toBe(0);
    expect(read.bytes - before.bytes).toBe(6 * 400 + 180 * 16);
    expect(after.hits - read.hits).toBe(6);
    expect(after.misses - read.misses).toBe(0);
  });

  it('answers 503 timeout when PostgreSQL cancels the statement (QUERY_STATEMENT_TIMEOUT_MS)', async () => {
    const client = await ctx.db.connect();
    try {
      await client.query('BEGIN');
      await client.query('LOCK TABLE metric_series IN ACCESS EXCLUSIVE MODE');
      const res = await get(`/prometheus/api/v1/query?query=jobs_total&time=${(t0 + 90_000) / 1000}`);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ status: 'error', errorType: 'timeout' });
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('needs a user token: none → 401; the token as Basic-auth password works (promtool, Grafana)', async () => {
    expect((await get('/prometheus/api/v1/query?query=1%2B1&time=4', {})).status).toBe(401);
    const basic = `Basic ${Buffer.from(`grafana:${token}`).toString('base64')}`;
    expect(await get('/prometheus/api/v1/query?query=1%2B1&time=4', { authorization: basic })).toEqual({
      status: 200,
      body: { status: 'success', data: { resultType: 'scalar', result: [4, '2'] } },
    });
    const wrong = `Basic ${Buffer.from('grafana:not-a-token').toString('base64')}`;
    expect((await get('/prometheus/api/v1/query?query=1%2B1&time=4', { authorization: wrong })).status).toBe(401);
    // Basic auth is only for the Prometheus prefix.
    const elsewhere = await api.app.inject({
      method: 'GET',
      url: '/api/v1/monitoring/metrics',
      headers: { authorization: basic },
    });
    expect(elsewhere.statusCode).toBe(401);
  });
});
