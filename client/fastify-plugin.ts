/**
 * Fastify instrumentation, request-id middleware and endpoint performance tracking in one plugin:
 *   - every request gets an id: a valid incoming X-Request-Id, else Fastify's request.id when it is a UUID (see
 *     genReqId), else a new UUIDv7; it is echoed in the response and available as request.vigil.requestId, with
 *     request.vigil.logger (an EventLogger bound to it) and request.vigil.headers() to pass it downstream;
 *   - each request is recorded as http_request_duration_ms (a histogram, ms) and http_requests_total (a counter),
 *     labelled service, method, route (the route pattern, never the raw path, so cardinality stays bounded), status.
 *     By default the histogram is aggregated in the process and sent as Prometheus' _bucket{le}/_sum/_count
 *     counters every histogramIntervalMs (client/histograms.ts); durations: 'observations' sends one histogram
 *     sample per request instead (exact percentiles in vigil's query API, at ~3 µs more CPU per request). The
 *     duration runs from onRequest to onSend: the answer is ready, not yet written to the socket (a hijacked reply,
 *     which skips onSend, is not measured; a 404 that no route matched is timed to the end of its response);
 *   - 5xx answers are logged as error events, 401/403 as warn events (failed authentication, permission denied);
 *   - health checks and static files are not monitored (the contract's "what not to monitor"), nor routes declared with
 *     `config: { vigil: false }`.
 * Register it before the routes it should measure (its onRoute hook sees only routes added after it). Hooks are
 * callback-style and do no I/O: the client queues, and sends in the background. Per measured request Fastify runs
 * one onRequest and one onSend hook: an onResponse hook would make Fastify time every response and listen for its
 * end, which cost more than all of the plugin's own work (bench/README.md).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onErrorHookHandler, onSendHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { MetricSeries, VigilClient } from './client.ts';
import type { EventLogger, Tags } from './event-logger.ts';
import { DEFAULT_DURATION_BUCKETS_MS, invalidBounds } from './histograms.ts';
import { IdGenerator } from '../shared/schemas/uuid7.ts';
import { isUuid, isValidRequestId, REQUEST_ID_HEADER } from './request-id.ts';

import { MICROS_PER_MS } from '../shared/units.ts';
import { HTTP_STATUS } from '../shared/http/status.ts';

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
  /** Adds tags.user_id to the events of a request (the contract: "include user context when available"). */
  userId?: (request: FastifyRequest) => string | number | null | undefined;
  /** Adds tags.ip to failed-auth events. Off by default: an IP address is personal data in many jurisdictions. */
  logClientIp?: boolean;
  /** Flush the client (for up to 2 s) when the Fastify instance closes. Default true; the owner still calls close(). */
  flushOnClose?: boolean;
  /**
   * How http_request_duration_ms is sent. 'buckets' (default): aggregated here, sent every histogramIntervalMs as
   * counters http_request_duration_ms_bucket{le}, _sum and _count (a Prometheus histogram; a few samples per interval
   * whatever the request rate). 'observations': one histogram sample per request, so that vigil's query API computes
   * exact p50/p95/p99 of the durations and alert rules see each one, at about 3 µs more CPU per request.
   */
  durations?: 'buckets' | 'observations';
  /** Bucket bounds in ms for durations: 'buckets'. Default DEFAULT_DURATION_BUCKETS_MS (0.5 ms to 10 s). */
  durationBuckets?: readonly number[];
}

export const DURATION_METRIC = 'http_request_duration_ms';
export const REQUESTS_METRIC = 'http_requests_total';
/** The route label of requests no route matched (404s): one series, whatever the path. */
export const UNMATCHED_ROUTE = 'unmatched';

const FLUSH_ON_CLOSE_MS = 2000;
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

interface BoundSeries {
  method: string;
  status: number;
  duration: MetricSeries;
  requests: MetricSeries;
}

class RequestContext implements VigilRequest {
  error: Error | null = null;
  /**
   * Set once measured. An onSend hook after the plugin's that fails makes Fastify send the error answer through the
   * onSend hooks again: the request is counted once, with the status it had when first measured.
   */
  recorded = false;
  private eventLogger: EventLogger | null = null;

  constructor(
    readonly requestId: string,
    private readonly client: VigilClient,
    /** performance.now() at onRequest. */
    readonly start: number,
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
  if (client === undefined || typeof client.metric?.histogram !== 'function')
    throw new TypeError('vigil plugin: `client` (a VigilClient) is required');
  const service = client.source;
  const observations = opts.durations === 'observations';
  if (!observations && opts.durations !== undefined && opts.durations !== 'buckets')
    throw new TypeError("vigil plugin: `durations` is 'buckets' or 'observations'");
  const buckets = opts.durationBuckets ?? DEFAULT_DURATION_BUCKETS_MS;
  const badBuckets = invalidBounds(buckets);
  if (badBuckets !== null) throw new TypeError(`vigil plugin: durationBuckets: ${badBuckets}`);

  /** Records one answered request of `route`; series are bound per (method, status), labels validated once. */
  const recorder = (route: string) => {
    const bound = new Map<string, BoundSeries>();
    const bind = (method: string, status: number): BoundSeries => {
      const labels = { service, method, route, status: String(status) };
      const series: BoundSeries = {
        method,
        status,
        duration: observations
          ? client.metric.series('histogram', DURATION_METRIC, labels)
          : client.metric.aggregatedHistogram(DURATION_METRIC, labels, buckets),
        requests: client.metric.series('counter', REQUESTS_METRIC, labels),
      };
      bound.set(method + status, series);
      return series;
    };
    // Most requests of a route share method and status: the last series used is checked before the map.
    let last: BoundSeries | null = null;
    return (request: FastifyRequest, reply: FastifyReply): void => {
      const ctx = request.vigil as RequestContext | null;
      if (ctx === null || ctx.recorded) return;
      ctx.recorded = true;
      const status = reply.statusCode;
      const method = request.method;
      let series = last;
      if (series === null || series.status !== status || series.method !== method)
        last = series = bound.get(method + status) ?? bind(method, status);
      const duration = Math.round((performance.now() - ctx.start) * MICROS_PER_MS) / MICROS_PER_MS;
      series.duration.record(duration);
      series.requests.record(1);
      if (
        status >= HTTP_STATUS.INTERNAL_SERVER_ERROR ||
        status === HTTP_STATUS.UNAUTHORIZED ||
        status === HTTP_STATUS.FORBIDDEN
      )
        logFailure(request, ctx, route, status, duration, opts);
    };
  };

  app.decorateRequest('vigil', null as unknown as VigilRequest);

  const recordUnmatched = recorder(UNMATCHED_ROUTE);
  // Generated request ids are UUIDv7 (time-ordered), from the cheap generator the client uses for item ids.
  const ids = new IdGenerator();
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const given = incomingRequestId(request.raw.rawHeaders);
    const id =
      given !== null && isValidRequestId(given) ? given : isUuid(request.id) ? request.id : ids.next(Date.now());
    reply.header(REQUEST_ID_HEADER, id);
    request.vigil = new RequestContext(id, client, performance.now());
    // No route matched: no route hook will run, so this request is measured when its response is finished.
    if (request.is404 && !safeSkip(opts.skip ?? defaultSkip, request))
      reply.raw.once('finish', () => recordUnmatched(request, reply));
    done();
  });

  // Per-route hooks, decided once when the route is registered: a skipped route (health check, static file,
  // config.vigil false) gets no hook at all, and a measured one knows its route label without asking per request
  // (request.routeOptions is a getter that builds an object each time).
  app.addHook('onRoute', (route) => {
    if (route.config?.vigil === false) return;
    const url = route.url;
    if (opts.skip === undefined && (isHealthCheck(url) || isStaticFile(url))) return;
    // A wildcard or parametric route may serve health checks or files: its path decides, per request.
    const skip = opts.skip ?? (/[*:]/.test(url) ? defaultSkip : null);
    const record = recorder(url);
    const onSend: onSendHookHandler = (request, reply, payload, done) => {
      if (skip === null || !safeSkip(skip, request)) record(request, reply);
      done(null, payload);
    };
    const onError: onErrorHookHandler = (request, _reply, error, done) => {
      if (request.vigil) (request.vigil as RequestContext).error = error;
      done();
    };
    route.onSend = [...asArray(route.onSend), onSend];
    route.onError = [...asArray(route.onError), onError];
  });

  // Bounded: app.close() must not hang on a gateway that is down (the client's owner still calls close()).
  if (opts.flushOnClose !== false) app.addHook('onClose', async () => client.flush({ timeoutMs: FLUSH_ON_CLOSE_MS }));
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function logFailure(
  request: FastifyRequest,
  ctx: RequestContext,
  route: string,
  status: number,
  duration: number,
  opts: VigilPluginOptions,
): void {
  try {
    const tags: Tags = { method: request.method, route, path: requestPath(request), status, duration_ms: duration };
    const user = opts.userId?.(request);
    if (user !== undefined && user !== null) tags.user_id = user;
    if (status >= HTTP_STATUS.INTERNAL_SERVER_ERROR) {
      ctx.logger.error(`${request.method} ${route} answered ${status}`, tags, ctx.error ?? undefined);
      return;
    }
    tags.action = status === HTTP_STATUS.UNAUTHORIZED ? 'auth_failed' : 'permission_denied';
    if (opts.logClientIp) tags.ip = request.ip;
    ctx.logger.warn(
      `${request.method} ${route} answered ${status} ` +
        `(${status === HTTP_STATUS.UNAUTHORIZED ? 'authentication failed' : 'permission denied'})`,
      tags,
    );
  } catch {
    // userId() or request.ip threw: the request is already answered; monitoring must not make it worse.
  }
}

/**
 * X-Request-Id from the raw header list: Node builds request.headers lazily, on first access, and an app that never
 * reads its headers should not pay for that because of the plugin.
 */
function incomingRequestId(raw: string[]): string | null {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === REQUEST_ID_HEADER.length && name.toLowerCase() === REQUEST_ID_HEADER) return raw[i + 1];
  }
  return null;
}

function safeSkip(skip: (request: FastifyRequest) => boolean, request: FastifyRequest): boolean {
  try {
    return skip(request);
  } catch {
    return false;
  }
}

export const vigilFastify = fp(vigilPlugin, { name: 'vigil-client', fastify: '5.x' });
