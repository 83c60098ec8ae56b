/**
 * GET /stats/ingest over data that went the whole way (HTTP → gateway → Kafka → writer, rows and rollups in one
 * transaction → PostgreSQL): the per-minute buckets are exactly what was posted, by event type, with empty minutes
 * as zeros; the default window agrees with /stats' events_last_hour; bad windows and roles are refused with 4xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { createTestContext, waitFor, type TestContext } from './helpers/context.ts';

const MIN = 60_000;
const URL = '/api/v1/monitoring/stats/ingest';

describe('GET /stats/ingest over the real pipeline', () => {
  let ctx: TestContext;
  let api: Runtime;
  // Whole minutes, the newest 10 minutes ago: nothing else of this database lands in them.
  const T = Math.floor(Date.now() / MIN) * MIN - 14 * MIN;
  const iso = (ms: number) => new Date(ms).toISOString();

  const get = (url: string, token?: string) =>
    api.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const post = async (path: string, payload: object) => {
    const res = await api.app.inject({
      method: 'POST',
      url: `/api/v1/monitoring/${path}`,
      headers: { authorization: `Bearer ${ctx.token('user')}` },
      payload,
    });
    expect(res.statusCode, res.body).toBe(202);
  };
  const zeros = { log: 0, metric: 0, trace: 0, alert: 0 };

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway,query');
    await ctx.start('writer');
    const event = (minute: number, second: number, eventType: string) => ({
      event_type: eventType,
      source: `s${second % 3}`,
      level: 'info',
      timestamp: iso(T + minute * MIN + second * 1000),
    });
    await post('events', {
      events: [
        ...Array.from({ length: 5 }, (_, i) => event(0, i * 11, 'log')),
        event(0, 59, 'alert'),
        // minute 1: nothing
        ...Array.from({ length: 3 }, (_, i) => event(2, i, 'trace')),
        event(2, 30, 'log'),
        event(3, 0, 'metric'),
      ],
    });
    await post('metrics', {
      metrics: [0, 20, 40].map((s) => ({
        name: 'q_depth',
        metric_type: 'gauge',
        value: s,
        timestamp: iso(T + 2 * MIN + s * 1000),
      })),
    });
    const moderator = ctx.token('moderator');
    await waitFor(
      async () => (await get('/api/v1/monitoring/stats', moderator)).json().data,
      (s) => s.total_events === 11 && s.total_metrics === 3,
    );
  });
  afterAll(() => ctx?.cleanup());

  it('answers one bucket per minute, exactly what was stored, by event type', async () => {
    const window = `start_time=${iso(T - MIN + 30_000)}&end_time=${iso(T + 4 * MIN + 59_999)}`;
    const res = await get(`${URL}?${window}`, ctx.token('moderator'));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json()).toEqual({
      success: true,
      data: {
        start_time: iso(T - MIN),
        end_time: iso(T + 4 * MIN),
        minutes: [
          { minute: iso(T - MIN), events: 0, by_event_type: zeros, metric_samples: 0 },
          { minute: iso(T), events: 6, by_event_type: { ...zeros, log: 5, alert: 1 }, metric_samples: 0 },
          { minute: iso(T + MIN), events: 0, by_event_type: zeros, metric_samples: 0 },
          { minute: iso(T + 2 * MIN), events: 4, by_event_type: { ...zeros, trace: 3, log: 1 }, metric_samples: 3 },
          { minute: iso(T + 3 * MIN), events: 1, by_event_type: { ...zeros, metric: 1 }, metric_samples: 0 },
          { minute: iso(T + 4 * MIN), events: 0, by_event_type: zeros, metric_samples: 0 },
        ],
      },
    });
  });

  it('by default answers the current minute and the 59 before it, adding up to /stats', async () => {
    const admin = ctx.token('admin');
    const before = Math.floor(Date.now() / MIN) * MIN;
    const body = (await get(URL, admin)).json();
    const stats = (await get('/api/v1/monitoring/stats', admin)).json().data;
    const after = Math.floor(Date.now() / MIN) * MIN;
    expect(body.data.minutes).toHaveLength(60);
    expect([iso(before), iso(after)]).toContain(body.data.end_time);
    expect(Date.parse(body.data.end_time) - Date.parse(body.data.start_time)).toBe(59 * MIN);
    const sum = (key: 'events' | 'metric_samples') =>
      body.data.minutes.reduce((n: number, m: Record<string, number>) => n + m[key], 0);
    expect(sum('events')).toBe(11);
    expect(sum('events')).toBe(stats.events_last_hour);
    expect(sum('metric_samples')).toBe(stats.metrics_last_hour);
    // Only start_time: the hour from it.
    const hour = (await get(`${URL}?start_time=${iso(T)}`, admin)).json().data;
    expect([hour.start_time, hour.end_time, hour.minutes.length]).toEqual([iso(T), iso(T + 59 * MIN), 60]);
    // A full day is allowed: 1,440 buckets.
    const day = await get(`${URL}?start_time=${iso(T - 1439 * MIN)}&end_time=${iso(T + 59_000)}`, admin);
    expect(day.statusCode, day.body).toBe(200);
    expect(day.json().data.minutes).toHaveLength(1440);
  });

  it('is described in the OpenAPI document with its parameters and answer', async () => {
    const doc = (await get('/docs/openapi.json')).json();
    const route = doc.paths['/api/v1/monitoring/stats/ingest'].get;
    expect(route.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['end_time', 'start_time']);
    const data = route.responses['200'].content['application/json'].schema.properties.data;
    expect(data.required).toEqual(['start_time', 'end_time', 'minutes']);
    expect(data.properties.minutes.items.required).toEqual(['minute', 'events', 'by_event_type', 'metric_samples']);
    expect(Object.keys(route.responses).sort()).toEqual(['200', '400', '401', '403']);
  });

  it('refuses bad windows with 400 naming the parameter, and other roles with 401/403', async () => {
    const moderator = ctx.token('moderator');
    const refused = async (query: string, field: string, message: RegExp) => {
      const res = await get(`${URL}?${query}`, moderator);
      expect(res.statusCode, query).toBe(400);
      const body = res.json();
      expect(body).toMatchObject({ success: false, error: { code: 'VIGIL_ERR_VALIDATION' } });
      expect(
        body.error.details.map((d: { field: string }) => d.field),
        query,
      ).toEqual([field]);
      expect(body.error.details[0].message, query).toMatch(message);
    };
    await refused('start_time=yesterday', 'start_time', /ISO 8601/);
    await refused('end_time=2026-13-40T00:00:00Z', 'end_time', /ISO 8601/);
    await refused('end_time=1700000000000', 'end_time', /ISO 8601/);
    await refused(`start_time=${iso(T)}&end_time=${iso(T - 1000)}`, 'end_time', /must not be before start_time/);
    const tooLong = `start_time=${iso(T - 1440 * MIN)}&end_time=${iso(T)}`;
    await refused(tooLong, 'start_time', /at most 1440 minutes.*got 1441/);
    await refused('start_time=2026-01-01T00:00:00Z&start_time=2026-01-01T00:01:00Z', 'start_time', /once/);
    await refused('step=1m', 'step', /not a known parameter/);
    await refused(`start_time=${'9'.repeat(5000)}`, 'start_time', /ISO 8601/);

    const user = await get(URL, ctx.token('user'));
    expect(user.statusCode).toBe(403);
    expect(user.json()).toMatchObject({ success: false, error: { code: 'VIGIL_ERR_FORBIDDEN' } });
    const anonymous = await get(URL);
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ success: false, error: { code: 'VIGIL_ERR_UNAUTHORIZED' } });
  });
});
