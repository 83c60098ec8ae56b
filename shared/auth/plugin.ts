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
    const basic = url.startsWith(BASIC_AUTH_PREFIX) ? basicPassword(header!) : null;
    const token = basic ?? BEARER.exec(header!)?.[1];
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
