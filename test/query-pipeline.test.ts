/**
 * The query service over data that went the whole way: HTTP → gateway → Kafka → writer (rows + rollups in one
 * transaction) → PostgreSQL. /stats must agree with what was ingested, the exposition's counters with the
 * increments posted, and cursor pages must neither skip nor repeat while the writer keeps storing newer events.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { countRows, createTestContext, waitFor, type TestContext } from './helpers/context.ts';

describe('query service over the real pipeline', () => {
  let ctx: TestContext;
  let api: Runtime;
  let user: string;

  const post = async (path: string, payload: unknown) => {
    const res = await api.app.inject({
      method: 'POST',
      url: `/api/v1/monitoring/${path}`,
      headers: { authorization: `Bearer ${user}` },
      payload: payload as object,
    });
    expect(res.statusCode, res.body).toBe(202);
  };
  const get = async (url: string, token = user) =>
    api.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway,query', { QUERY_FOLD_INTERVAL_SECONDS: '1' });
    await ctx.start('writer');
    user = ctx.token('user');
  });
  afterAll(() => ctx?.cleanup());

  it('stats and the exposition agree with what was ingested', async () => {
    const now = Date.now();
    await post('events', {
      events: Array.from({ length: 40 }, (_, i) => ({
        event_type: i % 4 === 0 ? 'alert' : 'log',
        source: `s${i % 3}`,
        level: 'info',
        timestamp: new Date(now - i * 1000).toISOString(),
      })),
    });
    await post('events', {
      events: [{ event_type: 'log', source: 'old', timestamp: new Date(now - 3 * 3_600_000).toISOString() }],
    });
    await post('metrics', {
      metrics: [
        ...Array.from({ length: 10 }, (_, i) => ({
          name: 'jobs_total',
          metric_type: 'counter',
          value: i + 1,
          labels: { queue: 'q1' },
          timestamp: new Date(now - i * 1000).toISOString(),
        })),
        {
          name: 'queue_depth',
          metric_type: 'gauge',
          value: 7,
          labels: { queue: 'q1' },
          timestamp: new Date(now - 5000).toISOString(),
        },
        {
          name: 'queue_depth',
          metric_type: 'gauge',
          value: 3,
          labels: { queue: 'q1' },
          timestamp: new Date(now - 1000).toISOString(),
        },
      ],
    });
    const moderator = ctx.token('moderator');
    const stats = await waitFor(
      async () => (await get('/api/v1/monitoring/stats', moderator)).json().data,
      (s) => s.total_events === 41 && s.total_metrics === 12,
    );
    expect(stats).toEqual({
      total_events: 41,
      total_metrics: 12,
      active_alerts: 0,
      open_incidents: 0,
      events_last_hour: 40,
      metrics_last_hour: 12,
    });
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events')).toBe(41);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM metrics')).toBe(12);

    // A moderator's scrape: the monitoring_* series are the /stats figures (moderator+).
    const scrape = async () =>
      parsePrometheusTextFormat((await get('/api/v1/monitoring/metrics/prometheus', moderator)).body);
    const families = new Map((await scrape()).map((f) => [f.name, f]));
    expect(families.get('monitoring_total_events')?.metrics[0].value).toBe('41');
    expect(families.get('jobs_total')?.metrics).toEqual([{ labels: { queue: 'q1' }, value: '55' }]);
    expect(families.get('queue_depth')?.metrics).toEqual([{ labels: { queue: 'q1' }, value: '3' }]);
    // The background fold (every second here) changes nothing in what a scrape answers.
    const { rows } = await ctx.db.query<{ folded_at: Date | null }>('SELECT folded_at FROM metric_series_fold');
    await waitFor(
      async () => (await ctx.db.query('SELECT folded_at FROM metric_series_fold')).rows[0]?.folded_at?.getTime() ?? 0,
      (t) => t > (rows[0]?.folded_at?.getTime() ?? 0),
    );
    expect(new Map((await scrape()).map((f) => [f.name, f])).get('jobs_total')?.metrics).toEqual([
      { labels: { queue: 'q1' }, value: '55' },
    ]);
  });

  it('cursor pages neither skip nor repeat while the writer stores newer events', async () => {
    const base = Date.now() - 20 * 60_000;
    await post('events', {
      events: Array.from({ length: 30 }, (_, i) => ({
        event_type: 'log',
        source: 'pager',
        timestamp: new Date(base + Math.floor(i / 3) * 1000).toISOString(),
      })),
    });
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source = 'pager'"),
      (n) => n === 30,
    );
    const { rows } = await ctx.db.query<{ id: string }>(
      `SELECT id FROM events WHERE source = 'pager' ORDER BY "timestamp" DESC, id DESC`,
    );

    const seen: string[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const res = await get(`/api/v1/monitoring/events?source=pager&limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      const body = res.json();
      seen.push(...body.data.map((e: { id: string }) => e.id));
      cursor = body.next_cursor;
      // Newer events reach the writer while the client pages.
      await post('events', {
        events: [{ event_type: 'log', source: 'pager', timestamp: new Date(Date.now() - page * 100).toISOString() }],
      });
      await waitFor(
        () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source = 'pager'"),
        (n) => n === 31 + page,
      );
      page++;
    } while (cursor);
    expect(seen).toEqual(rows.map((r) => r.id));
  });
});
