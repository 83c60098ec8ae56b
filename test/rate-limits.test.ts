/**
 * Per-subject rate limits of the expensive requests (shared/http/rate-limit.ts): analysis recomputes, alert
 * backtests and downsampled metric queries. Beyond its limit a subject gets 429 VIGIL_ERR_SUBJECT_RATE_LIMITED
 * in the envelope with Retry-After and the x-ratelimit-* headers; another subject, and the same subject's cheap
 * requests on the same routes, are not affected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';

type Answer = Awaited<ReturnType<Runtime['app']['inject']>>;

describe('per-subject rate limits on expensive requests', () => {
  let ctx: TestContext;
  let api: Runtime;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query,alerter', {
      QUERY_FOLD_INTERVAL_SECONDS: '3600',
      INCIDENTS_POLL_MS: '600000',
      RATE_LIMIT_WINDOW_SECONDS: '60',
      RATE_LIMIT_RECOMPUTE: '2',
      RATE_LIMIT_ALERT_PREVIEW: '2',
      RATE_LIMIT_METRIC_STEP: '3',
    });
  });
  afterAll(() => ctx?.cleanup());

  const call = (token: string, method: 'GET' | 'POST', url: string, payload?: object) =>
    api.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

  function expectLimited(res: Answer, limit: number, what: string): void {
    expect(res.statusCode, res.body).toBe(429);
    const retryAfter = Number(res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(res.headers['x-ratelimit-limit']).toBe(String(limit));
    expect(res.headers['x-ratelimit-remaining']).toBe('0');
    expect(res.json()).toEqual({
      success: false,
      error: {
        code: 'VIGIL_ERR_SUBJECT_RATE_LIMITED',
        message: `your token's subject made more than ${limit} ${what} in 60 s; retry after ${retryAfter} s`,
        details: { limit, window_seconds: 60, retry_after_seconds: retryAfter },
      },
    });
  }

  it('limits analysis recomputes per subject, not the stored analysis nor other subjects', async () => {
    const alice = ctx.token('moderator', 'alice');
    const bob = ctx.token('moderator', 'bob');
    const created = await call(alice, 'POST', '/api/v1/monitoring/incidents', {
      title: 'checkout down',
      severity: 'high',
    });
    expect(created.statusCode, created.body).toBe(201);
    const url = `/api/v1/monitoring/incidents/${created.json().data.id}/analysis`;
    for (let i = 0; i < 2; i++) {
      const res = await call(alice, 'GET', `${url}?recompute=true`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['x-ratelimit-remaining']).toBe(String(1 - i));
    }
    expectLimited(await call(alice, 'GET', `${url}?recompute=true`), 2, 'analysis recomputes (recompute=true)');
    for (let i = 0; i < 3; i++) {
      const stored = await call(alice, 'GET', url);
      expect(stored.statusCode, stored.body).toBe(200);
      expect(stored.headers['x-ratelimit-limit']).toBeUndefined();
    }
    expect((await call(bob, 'GET', `${url}?recompute=true`)).statusCode).toBe(200);
    const { rows } = await ctx.db.query('SELECT count(*)::int AS n FROM incident_analyses');
    expect(rows[0].n).toBe(3);
  });

  it('limits alert backtests per subject', async () => {
    const carol = ctx.token('moderator', 'carol');
    const dave = ctx.token('admin', 'dave');
    const body = { query: 'cpu_usage > 80' };
    for (let i = 0; i < 2; i++)
      expect((await call(carol, 'POST', '/api/v1/monitoring/alerts/preview', body)).statusCode).toBe(200);
    expectLimited(await call(carol, 'POST', '/api/v1/monitoring/alerts/preview', body), 2, 'alert backtests (preview)');
    expect((await call(dave, 'POST', '/api/v1/monitoring/alerts/preview', body)).statusCode).toBe(200);
  });

  it('limits downsampled metric queries per subject, not sample listings', async () => {
    const erin = ctx.token('user', 'erin');
    const frank = ctx.token('user', 'frank');
    const stepped = '/api/v1/monitoring/metrics?name=cpu_usage&step=1m';
    for (let i = 0; i < 3; i++) expect((await call(erin, 'GET', stepped)).statusCode).toBe(200);
    expectLimited(await call(erin, 'GET', stepped), 3, 'downsampled metric queries (with step)');
    for (let i = 0; i < 5; i++)
      expect((await call(erin, 'GET', '/api/v1/monitoring/metrics?name=cpu_usage')).statusCode).toBe(200);
    expect((await call(frank, 'GET', stepped)).statusCode).toBe(200);
  });
});
