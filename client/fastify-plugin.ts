/**
 * Fastify instrumentation, the seed's request-id middleware and track_endpoint_performance in one plugin:
 *   - every request gets an id: a valid incoming X-Request-Id, else Fastify's request.id when it is a UUID (see
 *     genReqId), else a new UUID; it is echoed in the response and available as request.vigil.requestId, with
 *     request.vigil.logger (an EventLogger bound to it) and request.vigil.headers() to pass it downstream;
 *   - each request is recorded as http_request_duration_ms (histogram, ms) and http_requests_total (counter),
 *     labelled service, method, route (the route pattern, never the raw path, so cardinality stays bounded), status;
 *   - 5xx answers are logged as error events, 401/403 as warn events (failed authentication, permission denied);
 *   - health checks and static files are not monitored (the seed's "what not to monitor"), nor routes declared with
 *     `config: { vigil: false }`.
 * Hooks are callback-style and do no I/O: the client queues and sends in the background.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { VigilClient } from './client.ts';
import type { EventLogger, Tags } from './event-logger.ts';
import { isUuid, isValidRequestId, newRequestId, REQUEST_ID_HEADER } from './request-id.ts';

export interface VigilRequest {
  readonly requestId: string;
  /** Log events with source = the client's and tags.request_id = this request's id. */
  readonly logger: EventLogger;
  /** Headers to add to downstream calls so that the next service keeps the same request id. */
  headers(): Record<string, string>;
}

declare module 'fastify' {
  interface FastifyRequest {
    vigil: VigilRequest;
  }
  interface FastifyContextConfig {
    /** false: this route is neither measured nor logged. */
    vigil?: boolean;
  }
}

export interface VigilPluginOptions {
  client: VigilClient;
  /** Which requests not to monitor. Default: defaultSkip (health checks and static files). */
  skip?: (request: FastifyRequest) => boolean;
  /** Adds tags.user_id to the events of a request (the seed: "include user context when available"). */
  userId?: (request: FastifyRequest) => string | number | null | undefined;
  /** Adds tags.ip to failed-auth events. Off by default: an IP address is personal data in many jurisdictions. */
  logClientIp?: boolean;
  /** Flush the client when the Fastify instance closes. Default true (the client's owner still calls close()). */
  flushOnClose?: boolean;
}

export const DURATION_METRIC = 'http_request_duration_ms';
export const REQUESTS_METRIC = 'http_requests_total';
/** The route label of requests no route matched (404s): one series, whatever the path. */
export const UNMATCHED_ROUTE = 'unmatched';

const HEALTH_CHECK = /(?:^|\/)(?:health|healthz|healthcheck|livez|readyz|ping)\/?$/i;
const STATIC_FILE = /\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|otf|eot|txt|html?|webmanifest)$/i;

export function requestPath(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? request.url : request.url.slice(0, q);
}

export function isHealthCheck(path: string): boolean {
  return HEALTH_CHECK.test(path) || path === '/metrics';
}

export function isStaticFile(path: string): boolean {
  return STATIC_FILE.test(path);
}

export function defaultSkip(request: FastifyRequest): boolean {
  const path = requestPath(request);
  return isHealthCheck(path) || isStaticFile(path);
}

class RequestContext implements VigilRequest {
  error: Error | null = null;
  private eventLogger: EventLogger | null = null;

  constructor(
    readonly requestId: string,
    readonly skipped: boolean,
    private readonly client: VigilClient,
  ) {}

  get logger(): EventLogger {
    return (this.eventLogger ??= this.client.eventLogger({ requestId: this.requestId }));
  }

  headers(): Record<string, string> {
    return { [REQUEST_ID_HEADER]: this.requestId };
  }
}

async function vigilPlugin(app: FastifyInstance, opts: VigilPluginOptions): Promise<void> {
  const { client } = opts;
  if (client === undefined || typeof client.metric?.histogram !== 'function') throw new TypeError('vigil plugin: `client` (a VigilClient) is required');
  const skip = opts.skip ?? defaultSkip;
  const service = client.source;

  app.decorateRequest('vigil', null as unknown as VigilRequest);

  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const given = request.headers[REQUEST_ID_HEADER];
    const id = isValidRequestId(given) ? given : isUuid(request.id) ? request.id : newRequestId();
    reply.header(REQUEST_ID_HEADER, id);
    request.vigil = new RequestContext(id, request.routeOptions.config?.vigil === false || safeSkip(skip, request), client);
    done();
  });

  app.addHook('onError', (request: FastifyRequest, _reply: FastifyReply, error: Error, done: () => void) => {
    if (request.vigil) (request.vigil as RequestContext).error = error;
    done();
  });

  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const ctx = request.vigil as RequestContext | null;
    if (ctx === null || ctx.skipped) return done();
    const status = reply.statusCode;
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const duration = Math.round(reply.elapsedTime * 1000) / 1000;
    const labels = { service, method: request.method, route, status: String(status) };
    client.metric.histogram(DURATION_METRIC, duration, labels);
    client.metric.counter(REQUESTS_METRIC, 1, labels);
    if (status >= 500 || status === 401 || status === 403) logFailure(request, ctx, route, status, duration, opts);
    done();
  });

  if (opts.flushOnClose !== false) app.addHook('onClose', async () => client.flush());
}

function logFailure(request: FastifyRequest, ctx: RequestContext, route: string, status: number, duration: number, opts: VigilPluginOptions): void {
  try {
    const tags: Tags = { method: request.method, route, path: requestPath(request), status, duration_ms: duration };
    const user = opts.userId?.(request);
    if (user !== undefined && user !== null) tags.user_id = user;
    if (status >= 500) {
      ctx.logger.error(`${request.method} ${route} answered ${status}`, tags, ctx.error ?? undefined);
      return;
    }
    tags.action = status === 401 ? 'auth_failed' : 'permission_denied';
    if (opts.logClientIp) tags.ip = request.ip;
    ctx.logger.warn(`${request.method} ${route} answered ${status} (${status === 401 ? 'authentication failed' : 'permission denied'})`, tags);
  } catch {
    // userId() or request.ip threw: the request is already answered; monitoring must not make it worse.
  }
}

function safeSkip(skip: (request: FastifyRequest) => boolean, request: FastifyRequest): boolean {
  try {
    return skip(request);
  } catch {
    return false;
  }
}

export const vigilFastify = fp(vigilPlugin, { name: 'vigil-client', fastify: '5.x' });
