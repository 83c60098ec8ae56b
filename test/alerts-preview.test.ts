/**
 * Event conditions live (error events from one source counted in a window: fires on the 4th — not on the 3rd,
 * which a companion rule with a lower threshold shows was evaluated — and resolves on the tick when the window
 * empties, with no new data) and the backtest over stored history, against transitions
 * computed by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { createTestContext, countRows, waitFor, type TestContext } from './helpers/context.ts';

const BASE = '/api/v1/monitoring/alerts';

describe('event rules and backtests', () => {
  let ctx: TestContext;
  let api: Runtime;

  beforeAll(async () => {
    ctx = await createTestContext({ ALERTER_TICK_MS: '200' });
    api = await ctx.start('gateway,writer,alerter');
  });
  afterAll(() => ctx?.cleanup());

  const call = (method: 'GET' | 'POST', url: string, payload?: unknown, role: 'user' | 'moderator' = 'moderator') =>
    api.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${ctx.token(role)}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  it('counts error events from a source in a window: more than 3 fires, an empty window resolves', async () => {
    const created = await call('POST', BASE, {
      name: 'api errors',
      query: 'count_over_time(events{level="error", source="api"}[3s]) > 3',
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().data.id;
    const companion = await call('POST', BASE, {
      name: 'api errors seen',
      query: 'count_over_time(events{level="error", source="api"}[3s]) > 2',
    });
    expect(companion.statusCode).toBe(201);
    const seen = companion.json().data.id;
    const event = (source: string, level: string) => ({ event_type: 'log', source, level, message: 'boom' });
    const posted = await call(
      'POST',
      '/api/v1/monitoring/events',
      [
        event('api', 'error'),
        event('api', 'error'),
        event('api', 'info'),
        event('web', 'error'),
        event('api', 'error'),
      ],
      'user',
    );
    expect(posted.statusCode).toBe(202);
    // Evidence that the alerter evaluated the three errors: a companion rule on the same stream with a threshold
    // of 2 fires. The rule under test, evaluated on the same data, stays inactive: three errors are not > 3.
    await waitFor(
      async () => (await call('GET', `${BASE}/${seen}`, undefined, 'user')).json().data,
      (r) => r.state === 'firing' && r.active_instances[0]?.value === 3,
    );
    expect((await call('GET', `${BASE}/${id}`, undefined, 'user')).json().data.state).toBe('inactive');

    expect((await call('POST', '/api/v1/monitoring/events', event('api', 'error'), 'user')).statusCode).toBe(202);
    const firing = await waitFor(
      async () => (await call('GET', `${BASE}/${id}`, undefined, 'user')).json().data,
      (r) => r.state === 'firing',
    );
    expect(firing.active_instances).toEqual([
      {
        labels: { event_type: 'log', source: 'api', level: 'error' },
        state: 'firing',
        value: 4,
        active_at: expect.any(String),
        fired_at: expect.any(String),
      },
    ]);
    // No more events: the 3 s window empties and the tick resolves it.
    await waitFor(
      async () => (await call('GET', `${BASE}/${id}`, undefined, 'user')).json().data.state,
      (s) => s === 'inactive',
      10_000,
    );
    const history = (await call('GET', `${BASE}/${id}/history`, undefined, 'user')).json().data;
    expect(history.map((h: { from: string; to: string }) => `${h.from}→${h.to}`)).toEqual([
      'firing→resolved',
      'inactive→firing',
    ]);
  });

  it('backtests a rule over stored metric history: when it would have gone pending, fired and resolved', async () => {
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 20 * 60_000;
    const values = [50, 85, 90, 95, 70, 88, 92, 93, 94, 60, 40];
    const samples = values.map((value, k) => ({
      name: 'cpu_usage',
      metric_type: 'gauge',
      value,
      labels: { host: 'bt' },
      timestamp: new Date(t0 + k * 60_000).toISOString(),
    }));
    // Another host that never crosses the threshold, and another metric: neither may show up.
    samples.push({
      name: 'cpu_usage',
      metric_type: 'gauge',
      value: 10,
      labels: { host: 'calm' },
      timestamp: new Date(t0 + 60_000).toISOString(),
    });
    samples.push({
      name: 'mem_usage',
      metric_type: 'gauge',
      value: 99,
      labels: { host: 'bt' },
      timestamp: new Date(t0 + 60_000).toISOString(),
    });
    expect((await call('POST', '/api/v1/monitoring/metrics', samples, 'user')).statusCode).toBe(202);
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM metrics'),
      (n) => n === samples.length,
    );

    const at = (k: number) => new Date(t0 + k * 60_000).toISOString();
    const preview = await call('POST', `${BASE}/preview`, {
      query: 'cpu_usage > 80',
      for: '2m',
      start_time: at(0),
      end_time: at(10),
      step: '1m',
    });
    expect(preview.statusCode).toBe(200);
    const labels = { host: 'bt' };
    expect(preview.json()).toEqual({
      success: true,
      data: {
        step: '1m',
        evaluations: 11,
        rows_read: 12,
        transitions: [
          { labels, from: 'inactive', to: 'pending', value: 85, at: at(1) },
          { labels, from: 'pending', to: 'firing', value: 95, at: at(3) },
          { labels, from: 'firing', to: 'resolved', value: 95, at: at(4) },
          { labels, from: 'inactive', to: 'pending', value: 88, at: at(5) },
          { labels, from: 'pending', to: 'firing', value: 93, at: at(7) },
          { labels, from: 'firing', to: 'resolved', value: 94, at: at(9) },
        ],
        alerts: [
          { labels, active_at: at(1), fired_at: at(3), resolved_at: at(4) },
          { labels, active_at: at(5), fired_at: at(7), resolved_at: at(9) },
        ],
      },
    });

    // A saved rule previews the same way (by id); keep_firing_for 1m bridges the dip at 4.
    const saved = await call('POST', BASE, {
      name: 'bt cpu',
      query: 'cpu_usage{host="bt"}',
      threshold_value: 80,
      for: '2m',
      keep_firing_for: '1m',
    });
    const byId = await call('POST', `${BASE}/preview`, {
      rule_id: saved.json().data.id,
      start_time: at(0),
      end_time: at(10),
      step: '1m',
    });
    expect(byId.json().data.alerts).toEqual([{ labels, active_at: at(1), fired_at: at(3), resolved_at: at(10) }]);

    const bad = await call('POST', `${BASE}/preview`, {
      query: 'avg_over_time(cpu_usage[5m) > 1',
      start_time: at(0),
      end_time: 'yesterday',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.map((d: { field: string; position?: number }) => [d.field, d.position])).toEqual([
      ['end_time', undefined],
      ['query', 26],
    ]);
    expect((await call('POST', `${BASE}/preview`, { query: 'x > 1' }, 'user')).statusCode).toBe(403);
  });
});
