/**
 * The hook point for recording failed authentications: a refused token leaves its reason on request.authFailure
 * (what an onResponse hook of an audit log reads), an accepted one leaves it null and sets request.principal.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { installErrorHandling } from '../http/error-handler.ts';
import { authPlugin, type AuthFailure } from './plugin.ts';
import { signToken } from './tokens.ts';

describe('auth plugin', () => {
  it('leaves the failure reason on the request for hooks, and the principal when accepted', async () => {
    const auth = { secret: 'k'.repeat(32), issuer: 'vigil' };
    const app = Fastify();
    installErrorHandling(app);
    await app.register(authPlugin, auth);
    const seen: { status: number; failure: AuthFailure | null; sub: string | null }[] = [];
    app.addHook('onResponse', async (request, reply) => {
      seen.push({ status: reply.statusCode, failure: request.authFailure, sub: request.principal?.sub ?? null });
    });
    app.get('/api/v1/monitoring/events', async () => ({ ok: true }));
    const url = '/api/v1/monitoring/events';
    await app.inject({ url });
    await app.inject({ url, headers: { authorization: 'Bearer not-a-jwt' } });
    const token = signToken(auth, { role: 'user', sub: 'ann', ttlSeconds: 60 });
    await app.inject({ url, headers: { authorization: `Bearer ${token}` } });
    const failure = (reason: string, message: RegExp) => ({ reason, message: expect.stringMatching(message) });
    expect(seen).toEqual([
      { status: 401, failure: failure('missing_token', /^a bearer token is required/), sub: null },
      { status: 401, failure: failure('malformed_token', /^invalid bearer token: the token is not a JWT/), sub: null },
      { status: 200, failure: null, sub: 'ann' },
    ]);
    await app.close();
  });
});
