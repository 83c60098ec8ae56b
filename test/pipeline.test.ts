/**
 * The thin slice end to end: POST over HTTP → gateway → the real Kafka broker → writer → PostgreSQL → GET.
 * The gateway and the writer run as separate runtimes, so the only path between them is the broker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, countRows, waitFor, type TestContext } from './helpers/context.ts';
import type { Runtime } from '../bin/runtime.ts';

describe('pipeline round trip', () => {
  let ctx: TestContext;
  let api: Runtime;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway,query');
    await ctx.start('writer');
  });
  afterAll(() => ctx?.cleanup());

  it('stores a posted event and serves it back, newest first', async () => {
    const sub = '6f1c4c7e-3f51-4a57-9d8e-0b2f7a0c1d11';
    const token = ctx.token('user', sub);
    const event = {
      event_type: 'log',
      source: 'web-server',
      message: 'Request processed successfully',
      level: 'info',
      tags: { service: 'api', environment: 'production' },
      payload: { request_id: 'req-123', duration_ms: 245 },
    };
    const posted = await api.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/events',
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-abc' },
      payload: event,
    });
    expect(posted.statusCode).toBe(202);
    expect(posted.headers['x-request-id']).toBe('req-abc');
    const body = posted.json();
    const { id, timestamp } = body.data;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Math.abs(Date.parse(timestamp) - Date.now())).toBeLessThan(10_000);
    const expected = {
      id,
      event_type: 'log',
      source: 'web-server',
      message: 'Request processed successfully',
      level: 'info',
      tags: { service: 'api', environment: 'production', request_id: 'req-abc' },
      payload: { request_id: 'req-123', duration_ms: 245 },
      timestamp,
      created_by: sub,
    };
    expect(body).toEqual({ success: true, data: expected });

    // A second, older event from another source: the listing is newest first.
    const older = new Date(Date.now() - 60_000).toISOString();
    const second = await api.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/events',
      headers: { authorization: `Bearer ${token}` },
      payload: { event_type: 'trace', source: 'db', timestamp: older },
    });
    expect(second.statusCode).toBe(202);

    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n === 2,
    );
    const listed = await api.app.inject({
      method: 'GET',
      url: '/api/v1/monitoring/events',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(listed.statusCode).toBe(200);
    const { data } = listed.json();
    expect(data).toHaveLength(2);
    expect(data[0]).toEqual({ ...expected, created_at: expect.any(String) });
    expect(data[1]).toEqual({
      id: second.json().data.id,
      event_type: 'trace',
      source: 'db',
      message: null,
      level: null,
      tags: { request_id: second.headers['x-request-id'] },
      payload: {},
      timestamp: older,
      created_by: sub,
      created_at: expect.any(String),
    });

    // Filters: each one narrows to exactly the matching event.
    const get = async (query: string) =>
      (
        await api.app.inject({
          method: 'GET',
          url: `/api/v1/monitoring/events?${query}`,
          headers: { authorization: `Bearer ${token}` },
        })
      )
        .json()
        .data.map((e: { id: string }) => e.id);
    expect(await get('event_type=log')).toEqual([id]);
    expect(await get('source=db')).toEqual([second.json().data.id]);
    expect(await get('level=info')).toEqual([id]);
    expect(await get(`start_time=${encodeURIComponent(new Date(Date.parse(older) + 1).toISOString())}`)).toEqual([id]);
    expect(await get(`end_time=${encodeURIComponent(older)}`)).toEqual([second.json().data.id]);
    expect(await get('limit=1')).toEqual([id]);
    expect(await get('limit=1&offset=1')).toEqual([second.json().data.id]);
    expect(await get('event_type=metric')).toEqual([]);
  });

  it('answers bad input with 400 naming the field', async () => {
    const token = ctx.token('user');
    const post = (payload: string) =>
      api.app.inject({
        method: 'POST',
        url: '/api/v1/monitoring/events',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload,
      });

    const malformed = await post('{"event_type": "log", ');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toEqual({
      success: false,
      error: { code: 'VIGIL_ERR_MALFORMED_BODY', message: expect.stringMatching(/JSON/) },
    });

    const noSource = await post(JSON.stringify({ event_type: 'log', message: 'x' }));
    expect(noSource.statusCode).toBe(400);
    expect(noSource.json()).toEqual({
      success: false,
      error: {
        code: 'VIGIL_ERR_VALIDATION',
        message: 'source: is required',
        details: [{ field: 'source', message: 'is required' }],
      },
    });

    const bogus = await post(JSON.stringify({ event_type: 'bogus', source: 'api' }));
    expect(bogus.statusCode).toBe(400);
    expect(bogus.json()).toEqual({
      success: false,
      error: {
        code: 'VIGIL_ERR_VALIDATION',
        message: 'event_type: must be one of log, metric, trace, alert, got "bogus"',
        details: [{ field: 'event_type', message: 'must be one of log, metric, trace, alert, got "bogus"' }],
      },
    });

    const badQuery = await api.app.inject({
      method: 'GET',
      url: '/api/v1/monitoring/events?event_type=bogus&limit=0',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json().error.details).toEqual([
      // Schema violations are reported one at a time (the first, in the schema's order of parameters).
      { field: 'event_type', message: 'must be one of log, metric, trace, alert, got "bogus"' },
    ]);
  });

  it('refuses missing and bad tokens with 401', async () => {
    const cases: Record<string, string | undefined> = {
      missing: undefined,
      garbage: 'Bearer not-a-token',
      wrongSecret: `Bearer ${(await import('../shared/auth/tokens.ts')).signToken(
        { secret: 'x'.repeat(40), issuer: 'vigil' },
        { role: 'admin', sub: 'a', ttlSeconds: 60 },
      )}`,
      algNone:
        `Bearer ${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.` +
        `${Buffer.from(JSON.stringify({ sub: 'a', role: 'admin', iss: 'vigil' })).toString('base64url')}.`,
    };
    for (const [name, authorization] of Object.entries(cases)) {
      for (const method of ['GET', 'POST'] as const) {
        const res = await api.app.inject({
          method,
          url: '/api/v1/monitoring/events',
          headers: authorization ? { authorization } : {},
          ...(method === 'POST' ? { payload: { event_type: 'log', source: 'x' } } : {}),
        });
        expect(res.statusCode, `${name} ${method}`).toBe(401);
        expect(res.json().error.code, name).toBe('VIGIL_ERR_UNAUTHORIZED');
      }
    }
    expect(await countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source = 'x'")).toBe(0);
  });

  it('serves health and readiness without a token', async () => {
    const health = await api.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json()).toEqual({ status: 'ready', checks: { kafka: 'ok', postgres: 'ok', migrations: 'ok' } });
    expect(ready.statusCode).toBe(200);
    // One role's checks only (what a load balancer in front of gateways asks); a role not run here is a 400.
    const gateway = await api.app.inject({ method: 'GET', url: '/readyz?role=gateway' });
    expect([gateway.statusCode, gateway.json()]).toEqual([200, { status: 'ready', checks: { kafka: 'ok' } }]);
    const unknown = await api.app.inject({ method: 'GET', url: '/readyz?role=alerter' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.details).toEqual([{ field: 'role', message: expect.any(String) }]);
  });
});
