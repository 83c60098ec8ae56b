/**
 * Authentication and authorisation for every route: verifies the bearer token (HS256 only, so `alg: none` and
 * tokens signed with another algorithm are refused), then checks the route's entry in ROUTE_POLICY.
 */
import fp from 'fastify-plugin';
import jwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VigilError } from '../errors.ts';
import { ROUTE_POLICY, allows, isUserRole, routeKey, type UserRole } from './policy.ts';

/** Longest token subject accepted (created_by of what the token submits; 3 bytes per character at most). */
export const MAX_SUBJECT_LENGTH = 256;

export interface Principal {
  sub: string;
  role: UserRole;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
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
      claims = await request.jwtVerify<{ sub?: unknown; role?: unknown }>();
    } catch (error) {
      throw new VigilError('VIGIL_ERR_UNAUTHORIZED', `invalid bearer token: ${(error as Error).message}`);
    }
    if (typeof claims.sub !== 'string' || claims.sub === '' || !isUserRole(claims.role)) {
      throw new VigilError('VIGIL_ERR_UNAUTHORIZED', 'the token must carry a non-empty `sub` and a `role` of user, moderator or admin');
    }
    // The subject becomes created_by and an index key (incidents by creator): bounded like every key.
    if (claims.sub.length > MAX_SUBJECT_LENGTH) {
      const message = `the token's \`sub\` must be at most ${MAX_SUBJECT_LENGTH} characters, got ${claims.sub.length}`;
      throw new VigilError('VIGIL_ERR_UNAUTHORIZED', message);
    }
    request.principal = { sub: claims.sub, role: claims.role };
    if (access === undefined || !allows(claims.role, access)) {
      throw new VigilError('VIGIL_ERR_FORBIDDEN', `this route requires the ${access ?? 'admin'} role; your token has ${claims.role}`);
    }
  });
});
