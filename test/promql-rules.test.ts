/**
 * One PromQL engine for alert rules and the Prometheus-compatible API: the same query text gives the same value
 * through the rule engine (the backtest, which feeds stored rows to the alerter's windows, and the live alerter
 * on the Kafka stream) and through /prometheus/api/v1/query on the same samples — rate() and increase() over
 * vigil counter increments and over a running total with a reset (stored as a gauge, as remote_write and OTLP
 * cumulative sums are), gauges, histogram buckets, aggregations and binary operators. And a live rule on rate()
 * of an increment counter fires at the value computed by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { createTestContext, waitFor, type TestContext } from './helpers/context.ts';
import { insertSamples, type TestSample } from './helpers/rows.ts';

const BASE = '/api/v1/monitoring/alerts';
/** Every result element passes: the rule's value is the query's value. */
const PASS_ALL = -1e300;
/** Relative difference allowed, as the comparison with a real Prometheus allows (services/query/promql-compare). */
const TOLERANCE = 1e-9;

describe('alert rules and the Prometheus API share one engine', () => {
  let ctx: TestContext;
  let api: Runtime;
  const t0 = Math.floor((Date.now() - 2 * 3_600_000) / 60_000) * 60_000;
  const at = (seconds: number) => t0 + seconds * 1000;

  const call = async (
    method: 'GET' | 'POST',
    url: string,
    payload?: unknown,
    role: 'user' | 'moderator' = 'moderator',
  ) => {
    const res = await api.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${ctx.token(role)}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    return { status: res.statusCode, body: res.json() };
  };

  /** The API's instant vector at `t` (ms): labels (without the metric name) → value. */
  const viaApi = async (query: string, t: number): Promise<Record<string, number>> => {
    const res = await call(
      'GET',
      `/prometheus/api/v1/query?query=${encodeURIComponent(query)}&time=${t / 1000}`,
      undefined,
      'user',
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.resultType).toBe('vector');
    const out: Record<string, number> = {};
    for (const { metric, value } of res.body.data.result as {
      metric: Record<string, string>;
      value: [number, string];
    }[]) {
      const { __name__: _, ...labels } = metric;
      out[JSON.stringify(labels)] = Number(value[1]);
    }
    return out;
  };

  /** The rule engine's values at `t`: the backtest's first evaluation (every element goes pending at once). */
  const viaRule = async (query: string, t: number): Promise<Record<string, number>> => {
    const res = await call('POST', `${BASE}/preview`, {
      query,
      threshold_value: PASS_ALL,
      for: '1h',
      start_time: new Date(t).toISOString(),
      end_time: new Date(t + 1000).toISOString(),
      step: '1s',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const out: Record<string, number> = {};
    for (const tr of res.body.data.transitions as {
      labels: Record<string, string>;
      to: string;
      value: number;
      at: string;
    }[]) {
      if (tr.to === 'pending' && Date.parse(tr.at) === t) out[JSON.stringify(tr.labels)] = tr.value;
    }
    return out;
  };

  beforeAll(async () => {
    ctx = await createTestContext({ ALERTER_TICK_MS: '300' });
    api = await ctx.start('gateway,writer,alerter,query');
    const samples: TestSample[] = [];
    const add = (
      name: string,
      metric_type: TestSample['metric_type'],
      labels: Record<string, string>,
      points: number[][],
    ) => {
      for (const [s, value] of points) samples.push({ timestamp: at(s), name, metric_type, value, labels });
    };
    // vigil JSON counters: increments.
    add('orders_total', 'counter', { job: 'api' }, [
      [330, 2],
      [360, 3],
      [390, 1],
      [420, 4],
      [450, 2],
      [480, 5],
      [510, 3],
      [540, 2],
      [570, 1],
    ]);
    add('orders_total', 'counter', { job: 'web' }, [
      [345, 1],
      [405, 1],
      [465, 6],
      [525, 1],
    ]);
    // A running total as Prometheus remote_write sends it (stored as a gauge), the target restarting at 420 s.
    add('scraped_total', 'gauge', { job: 'api' }, [
      [330, 100],
      [360, 130],
      [390, 170],
      [420, 15],
      [450, 40],
      [480, 90],
      [510, 120],
      [540, 150],
      [570, 160],
    ]);
    add('temp', 'gauge', { host: 'a' }, [
      [320, 20.5],
      [400, 23],
      [590, 21],
    ]);
    add('temp', 'gauge', { host: 'b' }, [[500, 30]]);
    add('latency', 'histogram', { route: 'x' }, [
      [340, 0.2],
      [380, 0.03],
      [430, 3],
      [470, 0.7],
      [520, 0.2],
      [560, 12],
    ]);
    await insertSamples(ctx.db, samples);
  });
  afterAll(() => ctx?.cleanup());

  const queries = [
    'rate(orders_total[5m])',
    'increase(orders_total[4m])',
    'rate(orders_total[1m])',
    'orders_total',
    'rate(scraped_total[5m])',
    'increase(scraped_total[5m])',
    'resets(scraped_total[5m])',
    'irate(orders_total[5m])',
    'avg_over_time(temp[5m])',
    'max_over_time(temp[2m])',
    'temp * 2 - 1',
    'sum by (job) (rate(orders_total[5m]))',
    'sum(rate(orders_total[5m])) / count(orders_total)',
    'rate(orders_total{job="api"}[5m]) / ignoring(job) group_left rate(scraped_total[5m])',
    'histogram_quantile(0.9, rate(latency_bucket[5m]))',
    'rate(latency_count[5m])',
    'latency_sum',
    'label_replace(rate(orders_total[5m]), "service", "$1", "job", "(.*)")',
  ];

  it.each(queries)('%s: the same values through a rule and through /prometheus/api/v1/query', async (query) => {
    for (const t of [at(600), at(575), at(480)]) {
      const fromApi = await viaApi(query, t);
      expect(Object.keys(fromApi).length, `${query} @${t}`).toBeGreaterThan(0);
      const fromRule = await viaRule(query, t);
      expect(Object.keys(fromRule).sort(), `${query} @${t}`).toEqual(Object.keys(fromApi).sort());
      // Equal up to rounding: the API derives a running total's level from the all-time sum minus what follows.
      for (const [labels, value] of Object.entries(fromApi)) {
        expect(Math.abs(fromRule[labels] - value), `${query} ${labels} @${t}`).toBeLessThanOrEqual(
          Math.abs(value) * TOLERANCE,
        );
      }
    }
  });

  it('answers rate() over increments as over the running total they sum to', async () => {
    // orders_total{job="api"} in [300, 600]: running totals 2 … 23, increase 21 over 240 s sampled, 30 s apart;
    // the window edges are 30 s away (< 110% of the interval): extrapolated to 300 s, minus the stretch below zero
    // (2 / 21 × 240 s ≈ 22.9 s < 30 s).
    const sampled = 240;
    const toStart = sampled * (2 / 21);
    const expected = (21 * (sampled + toStart + 30)) / sampled / 300;
    expect((await viaApi('rate(orders_total{job="api"}[5m])', at(600)))['{"job":"api"}']).toBeCloseTo(expected, 12);
    // Treated as running totals, the increments would look like a counter that resets five times.
    expect((await viaRule('resets(orders_total[5m])', at(600)))['{"job":"api"}']).toBe(0);
  });

  it('a live rule on rate() of an increment counter fires at the value computed by hand', async () => {
    const created = await call('POST', BASE, { name: 'orders rate', query: 'rate(live_orders_total[10m]) > 0.02' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.data.id as string;
    // Increments of 3 every 60 s, the newest 120 s old: running totals 3, 6, 9, 12, 15.
    const now = Date.now();
    const samples = [360, 300, 240, 180, 120].map((ago) => ({
      name: 'live_orders_total',
      metric_type: 'counter',
      value: 3,
      labels: { shop: 'eu' },
      timestamp: new Date(now - ago * 1000).toISOString(),
    }));
    expect((await call('POST', '/api/v1/monitoring/metrics', samples, 'user')).status).toBe(202);
    const firing = await waitFor(
      async () => (await call('GET', `${BASE}/${id}`, undefined, 'user')).body.data,
      (r) => r.state === 'firing',
      30_000,
    );
    // increase 12 over 240 s sampled (60 s apart); towards the start only to where the counter would be zero
    // (240 s × 3 / 12 = 60 s), towards the end half an interval (120 s > 110%): 12 × 330 / 240 / 600 s.
    expect(firing.active_instances).toEqual([
      {
        labels: { shop: 'eu' },
        state: 'firing',
        value: expect.closeTo(0.0275, 12),
        active_at: expect.any(String),
        fired_at: expect.any(String),
      },
    ]);
    // At the instant the alerter judged it, the query API gives the same value.
    const history = (await call('GET', `${BASE}/${id}/history`, undefined, 'user')).body.data as {
      value: number;
      at: string;
    }[];
    expect(history).toHaveLength(1);
    await waitFor(
      async () => viaApi('rate(live_orders_total[10m])', Date.parse(history[0].at)),
      (r) => Object.keys(r).length === 1,
    );
    expect(await viaApi('rate(live_orders_total[10m])', Date.parse(history[0].at))).toEqual({
      '{"shop":"eu"}': history[0].value,
    });
  });
});
