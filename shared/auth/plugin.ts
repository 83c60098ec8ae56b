/**
 * Authentication and authorisation for every route: verifies the bearer token (shared/auth/verify.ts: algorithm,
 * signature, exp, iss, nbf, sub, role), then checks the route's entry in ROUTE_POLICY. A refused token answers 401
 * VIGIL_ERR_UNAUTHORIZED with `details.reason` (a TokenFailure) and leaves the same reason on
 * request.authFailure, so a hook (onResponse, onError) can record failed authentications without parsing messages.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VigilError } from '../errors.ts';
import { ROUTE_POLICY, allows, routeKey } from './policy.ts';
import { createTokenVerifier, TokenRejected, type Principal, type TokenFailure } from './verify.ts';
import type { VerifierOptions } from './verify.ts';

export type { Principal } from './verify.ts';

export interface AuthFailure {
  reason: TokenFailure;
  message: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    authFailure: AuthFailure | null;
  }
}

const BEARER = /^Bearer +(\S+)$/i;
const BEARER_HELP = 'Authorization: Bearer <token>; get one with `npm run --silent token -- --role user`';

export const authPlugin = fp(async (app: FastifyInstance, opts: VerifierOptions) => {
  const verify = createTokenVerifier(opts);
  app.decorateRequest('principal', null);
  app.decorateRequest('authFailure', null);

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      if (!(routeKey(method, route.url) in ROUTE_POLICY)) {
        throw new Error(`route ${routeKey(method, route.url)} has no entry in ROUTE_POLICY (shared/auth/policy.ts)`);
      }
    }
  });

  const refuse = (request: FastifyRequest, reason: TokenFailure, message: string): never => {
    request.authFailure = { reason, message };
    throw new VigilError('VIGIL_ERR_UNAUTHORIZED', message, { reason });
  };

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const url = request.routeOptions.url;
    if (url === undefined) return; // 404s are answered by the not-found handler
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const access = ROUTE_POLICY[routeKey(method, url)];
    if (access === 'public') return;
    const header = request.headers.authorization;
    if (!header) refuse(request, 'missing_token', `a bearer token is required (${BEARER_HELP})`);
    const token = BEARER.exec(header!)?.[1];
    if (token === undefined) refuse(request, 'malformed_token', 'the Authorization header must be `Bearer <token>`');
    let principal: Principal;
    try {
      principal = verify(token!);
    } catch (error) {
      if (!(error instanceof TokenRejected)) throw error;
      return refuse(request, error.reason, `invalid bearer token: ${error.message}`);
    }
    request.principal = principal;
    if (access === undefined || !allows(principal.role, access)) {
      const required = access ?? 'admin';
      const message = `this route requires the ${required} role; your token has ${principal.role}`;
      throw new VigilError('VIGIL_ERR_FORBIDDEN', message);
    }
  });
});
