/**
 * Authentication and authorisation for every route: verifies the bearer token (HS256 only, so `alg: none` and
 * tokens signed with another algorithm are refused), then checks the route's entry in ROUTE_POLICY.
 */
import fp from 'fastify-plugin';
import jwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VigilError } from '../errors.ts';
import { ROUTE_POLICY, allows, isUserRole, routeKey, type UserRole } from './policy.ts';

export interface Principal {
  sub: string;
  role: UserRole;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/**
 * Under this prefix (the Prometheus-compatible API) the token may also come as the password of HTTP Basic auth:
 * promtool only sends credentials from the URL (http://user:<token>@host/prometheus), and Grafana offers both.
 */
export const BASIC_AUTH_PREFIX = '/prometheus/';

function basicPassword(header: string): string | null {
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

export const authPlugin = fp(async (app: FastifyInstance, opts: { secret: string; issuer: string }) => {
  await app.register(jwt, {
    secret: opts.secret,
    sign: { algorithm: 'HS256', iss: opts.issuer },
    verify: { algorithms: ['HS256'], allowedIss: opts.issuer },
  });
  app.decorateRequest('principal', null);

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      if (!(routeKey(method, route.url) in ROUTE_POLICY)) {
        throw new Error(`route ${routeKey(method, route.url)} has no entry in ROUTE_POLICY (shared/auth/policy.ts)`);
      }
    }
  });

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const url = request.routeOptions.url;
    if (url === undefined) return; // 404s are answered by the not-found handler
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const access = ROUTE_POLICY[routeKey(method, url)];
    if (access === 'public') return;
    if (!request.headers.authorization) {
      throw new VigilError('VIGIL_ERR_UNAUTHORIZED', 'a bearer token is required (Authorization: Bearer <token>; get one with `npm run --silent token -- --role user`)');
    }
    let claims: { sub?: unknown; role?: unknown };
    try {
      const basicToken = url.startsWith(BASIC_AUTH_PREFIX) ? basicPassword(request.headers.authorization) : null;
      claims = basicToken === null ? await request.jwtVerify<{ sub?: unknown; role?: unknown }>() : app.jwt.verify(basicToken);
    } catch (error) {
      throw new VigilError('VIGIL_ERR_UNAUTHORIZED', `invalid bearer token: ${(error as Error).message}`);
    }
    if (typeof claims.sub !== 'string' || claims.sub === '' || !isUserRole(claims.role)) {
      throw new VigilError('VIGIL_ERR_UNAUTHORIZED', 'the token must carry a non-empty `sub` and a `role` of user, moderator or admin');
    }
    request.principal = { sub: claims.sub, role: claims.role };
    if (access === undefined || !allows(claims.role, access)) {
      throw new VigilError('VIGIL_ERR_FORBIDDEN', `this route requires the ${access ?? 'admin'} role; your token has ${claims.role}`);
    }
  });
});
