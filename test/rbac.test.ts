/**
 * The role × endpoint matrix, generated from ROUTE_POLICY (shared/auth/policy.ts) so a new route is covered the
 * moment it is listed there: every route is served, public ones need no token, and every protected one answers
 * 401 to a missing, expired, ill-signed, `alg: none`, wrong-issuer, role-less or over-long-subject token, 403 to each
 * role below its own, and lets each role at or above it through (whatever the handler then says about the request
 * itself).
 */
import crypto from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { AGGREGATE_FIGURES_ROLE, ROLES, ROUTE_POLICY, allows } from '../shared/auth/policy.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('RBAC: every route of ROUTE_POLICY × every kind of token', () => {
  let ctx: TestContext;
  let api: Runtime;
  let badTokens: Record<string, string | undefined>;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('all', { QUERY_FOLD_INTERVAL_SECONDS: '3600' });
    const { issuer } = ctx.config.auth;
    const secret = ctx.config.auth.secret!;
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'someone', role: 'admin', iss: issuer };
    badTokens = {
      missing: undefined,
      expired: createSigner({ key: secret, algorithm: 'HS256' })({ ...claims, iat: now - 120, exp: now - 60 }),
      'ill-signed': createSigner({
        key: 'another-secret-another-secret-000000',
        algorithm: 'HS256',
        expiresIn: 60_000,
      })(claims),
      'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, exp: now + 60 })}.`,
      'HS384 with the right secret': createSigner({ key: secret, algorithm: 'HS384', expiresIn: 60_000 })(claims),
      'wrong issuer': createSigner({ key: secret, algorithm: 'HS256', expiresIn: 60_000 })({
        ...claims,
        iss: 'someone-else',
      }),
      'unknown role': createSigner({ key: secret, algorithm: 'HS256', expiresIn: 60_000 })({ ...claims, role: 'root' }),
      'no sub': createSigner({ key: secret, algorithm: 'HS256', expiresIn: 60_000 })({ role: 'admin', iss: issuer }),
      'a 257-character sub': createSigner({ key: secret, algorithm: 'HS256', expiresIn: 60_000 })({
        ...claims,
        sub: 'x'.repeat(257),
      }),
      garbage: 'not.a.token',
    };
  });
  afterAll(() => ctx?.cleanup());

  const call = (key: string, token: string | undefined) => {
    const [method, path] = key.split(' ');
    const url = path.replace(/:id\b/g, crypto.randomUUID());
    return api.app.inject({
      method: method as 'GET',
      url,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      // An empty object: authorised callers get past the policy and are refused by validation, without side effects.
      ...(method === 'POST' || method === 'PUT' ? { payload: {} } : {}),
    });
  };

  it('serves every route listed in the policy', () => {
    for (const key of Object.keys(ROUTE_POLICY)) {
      const [method, url] = key.split(' ');
      expect(api.app.hasRoute({ method: method as 'GET', url }), key).toBe(true);
    }
  });

  it("keeps the contract's access levels for the query routes", () => {
    expect(ROUTE_POLICY['GET /api/v1/monitoring/stats']).toBe('moderator');
    for (const route of [
      'GET /api/v1/monitoring/events',
      'GET /api/v1/monitoring/events/:id',
      'GET /api/v1/monitoring/metrics',
      'GET /api/v1/monitoring/metrics/prometheus',
    ]) {
      expect(ROUTE_POLICY[route], route).toBe('user');
    }
    expect(ROUTE_POLICY['GET /docs/openapi.json']).toBe('public');
  });

  it('serves the six /stats figures to the roles /stats serves, in the Prometheus exposition too', async () => {
    const AGGREGATES = [
      'monitoring_total_events',
      'monitoring_total_metrics',
      'monitoring_active_alerts',
      'monitoring_open_incidents',
      'monitoring_events_last_hour',
      'monitoring_metrics_last_hour',
    ];
    expect(ROUTE_POLICY['GET /api/v1/monitoring/stats']).toBe(AGGREGATE_FIGURES_ROLE);
    for (const role of ROLES) {
      const stats = await call('GET /api/v1/monitoring/stats', ctx.token(role));
      const scrape = await call('GET /api/v1/monitoring/metrics/prometheus', ctx.token(role));
      expect(scrape.statusCode, scrape.body).toBe(200);
      const families = [...scrape.body.matchAll(/^# TYPE (monitoring_\S+) /gm)].map((m) => m[1]);
      if (allows(role, AGGREGATE_FIGURES_ROLE)) {
        expect(stats.statusCode, role).toBe(200);
        expect(
          Object.keys(stats.json().data)
            .map((k) => `monitoring_${k}`)
            .sort(),
        ).toEqual([...AGGREGATES].sort());
        expect(families, role).toEqual(AGGREGATES);
      } else {
        expect(stats.statusCode, role).toBe(403);
        expect(families, role).toEqual([]);
        expect(scrape.body, role).not.toContain('monitoring_');
      }
    }
  });

  for (const [key, access] of Object.entries(ROUTE_POLICY)) {
    it(`${key} (${access})`, async () => {
      const routed = (res: { statusCode: number; body: string }) =>
        !(res.statusCode === 404 && res.body.includes('"message":"no route'));
      if (access === 'public') {
        const res = await call(key, undefined);
        expect([401, 403], `${key} without a token: ${res.body}`).not.toContain(res.statusCode);
        expect(routed(res), key).toBe(true);
        return;
      }
      for (const [name, token] of Object.entries(badTokens)) {
        const res = await call(key, token);
        expect(res.statusCode, `${key} with ${name} token: ${res.body}`).toBe(401);
        expect(errorCode(key, res.json())).toBe('VIGIL_ERR_UNAUTHORIZED');
      }
      for (const role of ROLES) {
        const res = await call(key, ctx.token(role));
        if (allows(role, access)) {
          expect([401, 403], `${key} as ${role}: ${res.body}`).not.toContain(res.statusCode);
          expect(routed(res), key).toBe(true);
        } else {
          expect(res.statusCode, `${key} as ${role}`).toBe(403);
          const message = `this route requires the ${access} role; your token has ${role}`;
          if (isOtlp(key)) expect(res.json()).toEqual({ code: 7, message: `VIGIL_ERR_FORBIDDEN: ${message}` });
          else expect(res.json().error).toEqual({ code: 'VIGIL_ERR_FORBIDDEN', message });
        }
      }
    });
  }
});

/** OTLP/HTTP routes answer errors with a google.rpc.Status ({code, message: "<vigil code>: …"}), not the envelope. */
const isOtlp = (key: string) => key.startsWith('POST /v1/');

function errorCode(key: string, body: { error?: { code: string }; message?: string }): string | undefined {
  return isOtlp(key) ? body.message?.split(':')[0] : body.error?.code;
}
