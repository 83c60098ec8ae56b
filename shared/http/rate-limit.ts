/**
 * Per-subject rate limits of expensive requests (analysis recomputes, alert backtests, downsampled metric
 * queries), with @fastify/rate-limit: a route opts in with `config: subjectRateLimit(…)`; nothing is limited
 * otherwise. The key is the token's `sub` (the hook runs at preHandler, after authentication), so one subject
 * cannot starve the others whatever addresses it comes from, and a subject's other requests are not counted.
 * Counters live in the process (an LRU of 5,000 subjects per route): with N query replicas a subject gets N × the
 * limit. Beyond the limit: 429 VIGIL_ERR_SUBJECT_RATE_LIMITED in the usual envelope, with Retry-After (seconds to
 * the end of the window) and the plugin's x-ratelimit-limit/-remaining/-reset headers.
 */
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyContextConfig, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { VigilError } from '../errors.ts';
import { MS_PER_SECOND } from '../units.ts';

export interface SubjectLimit {
  /** Requests per window; 0: unlimited. */
  max: number;
  windowMs: number;
  /** What is limited, for the error message ("analysis recomputes"). */
  what: string;
  /** Which requests of the route count (default: all); the others pass without being counted. */
  applies?: (request: FastifyRequest) => boolean;
}

export const rateLimitPlugin = fp(async (app: FastifyInstance) => {
  await app.register(rateLimit, { global: false, hook: 'preHandler' });
});

const subjectKey = (request: FastifyRequest) =>
  request.principal ? `sub:${request.principal.sub}` : `ip:${request.ip}`;

/** The route config that limits a route per subject (an empty config when `max` is 0). */
export function subjectRateLimit(limit: SubjectLimit): FastifyContextConfig {
  if (limit.max === 0) return {};
  const windowSeconds = Math.round(limit.windowMs / MS_PER_SECOND);
  const options: RateLimitOptions = {
    max: limit.max,
    timeWindow: limit.windowMs,
    keyGenerator: subjectKey,
    ...(limit.applies ? { allowList: (request: FastifyRequest) => !limit.applies!(request) } : {}),
    errorResponseBuilder: (_request, context) => {
      const retryAfterSeconds = Math.max(1, Math.ceil(context.ttl / MS_PER_SECOND));
      return new VigilError(
        'VIGIL_ERR_SUBJECT_RATE_LIMITED',
        `your token's subject made more than ${context.max} ${limit.what} in ${windowSeconds} s; ` +
          `retry after ${retryAfterSeconds} s`,
        { limit: context.max, window_seconds: windowSeconds, retry_after_seconds: retryAfterSeconds },
        retryAfterSeconds,
      );
    },
  };
  return { rateLimit: options };
}
