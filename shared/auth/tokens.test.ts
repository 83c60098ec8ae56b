import { createVerifier } from 'fast-jwt';
import { describe, expect, it } from 'vitest';
import { allows, ROUTE_POLICY } from './policy.ts';
import { parseTtl, signToken } from './tokens.ts';

describe('tokens', () => {
  it('signs HS256 tokens with sub, role, iss and exp', () => {
    const auth = { secret: 's'.repeat(32), issuer: 'vigil' };
    const token = signToken(auth, { role: 'moderator', sub: 'u-1', ttlSeconds: 3600 });
    const claims = createVerifier({ key: auth.secret, algorithms: ['HS256'] })(token);
    expect(claims).toEqual({
      sub: 'u-1',
      role: 'moderator',
      iss: 'vigil',
      iat: expect.any(Number),
      exp: claims.iat + 3600,
    });
    expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
  });

  it('parses TTLs', () => {
    expect([parseTtl('30s'), parseTtl('15m'), parseTtl('1h'), parseTtl('7d'), parseTtl('90')]).toEqual([
      30, 900, 3600, 604800, 90,
    ]);
    expect([parseTtl('0'), parseTtl('1w'), parseTtl('')]).toEqual([null, null, null]);
  });
});

describe('role order', () => {
  it('is user < moderator < admin', () => {
    expect(allows('admin', 'moderator')).toBe(true);
    expect(allows('moderator', 'moderator')).toBe(true);
    expect(allows('user', 'moderator')).toBe(false);
    expect(allows('moderator', 'admin')).toBe(false);
  });
  it("lists the health routes as public and the API (OTLP/HTTP's /v1/ paths included) as authenticated", () => {
    for (const [route, access] of Object.entries(ROUTE_POLICY)) {
      const authenticated = route.includes('/api/') || / \/v1\//.test(route);
      expect(access, route).toEqual(authenticated ? expect.stringMatching(/^(user|moderator|admin)$/) : 'public');
    }
  });
});
