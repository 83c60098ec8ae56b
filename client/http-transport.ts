/**
 * Delivery to the gateway over HTTP: one POST per batch, `{"events":[…]}` to /api/v1/monitoring/events or
 * `{"metrics":[…]}` to /api/v1/monitoring/metrics, gzip-compressed (Content-Encoding: gzip), bearer token.
 * Status mapping: 2xx delivered (the body's data.rejected counts items the gateway refused one by one);
 * 408, 429, 5xx and network errors retry (Retry-After honoured); 413 splits the batch; other 4xx reject the batch.
 * Compression runs on libuv's thread pool (zlib.gzip), off the event loop of the instrumented service.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { parseRetryAfter } from './backoff.ts';
import type { QueuedItem } from './encode.ts';
import type { SendOutcome, StreamKind, Transport } from './transport.ts';

const gzip = promisify(zlib.gzip);

export type TokenSource = string | (() => string | Promise<string>);

export interface HttpTransportOptions {
  /** Base URL of a gateway, e.g. http://127.0.0.1:8080. */
  url: string;
  token: TokenSource;
  /** Per-request deadline; a request past it is retried (the same ids, so never stored twice). */
  timeoutMs: number;
  compress: boolean;
}

const PATHS: Record<StreamKind, string> = { events: '/api/v1/monitoring/events', metrics: '/api/v1/monitoring/metrics' };

export class HttpTransport implements Transport {
  private readonly urls: Record<StreamKind, string>;

  constructor(private readonly opts: HttpTransportOptions) {
    const base = opts.url.replace(/\/+$/, '');
    this.urls = { events: base + PATHS.events, metrics: base + PATHS.metrics };
  }

  async send(kind: StreamKind, items: readonly QueuedItem[], deadline: number): Promise<SendOutcome> {
    let response: Response;
    let text: string;
    try {
      const json = `{"${kind}":[${items.map((i) => i.json).join(',')}]}`;
      const body = this.opts.compress ? await gzip(json) : json;
      const token = typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token;
      response = await fetch(this.urls[kind], {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.opts.compress ? { 'content-encoding': 'gzip' } : {}),
          authorization: `Bearer ${token}`,
          'user-agent': 'vigil-client',
        },
        body,
        signal: AbortSignal.timeout(Math.max(1, Math.min(this.opts.timeoutMs, deadline - Date.now()))),
      });
      text = await response.text();
    } catch (error) {
      return { type: 'retry', retryAfterMs: null, reason: `POST ${this.urls[kind]} failed: ${describeFetchError(error)}` };
    }
    const { status } = response;
    if (status >= 200 && status < 300) {
      const rejected = rejectedCount(text);
      return { type: 'delivered', rejected, detail: rejected > 0 ? text.slice(0, 1000) : null };
    }
    const reason = `POST ${this.urls[kind]} answered ${status}: ${text.slice(0, 500)}`;
    if (status === 408 || status === 429 || status >= 500) {
      return { type: 'retry', retryAfterMs: parseRetryAfter(response.headers.get('retry-after')), reason };
    }
    if (status === 413) return { type: 'too_large', reason };
    return { type: 'rejected', reason };
  }

  async close(): Promise<void> {}
}

/** The gateway's partial-batch answer: { success, data: { accepted, rejected, errors } }; anything else counts 0. */
function rejectedCount(text: string): number {
  try {
    const body = JSON.parse(text) as { data?: { rejected?: unknown } } | null;
    const rejected = body?.data?.rejected;
    if (typeof rejected === 'number' && Number.isInteger(rejected) && rejected >= 0) return rejected;
    if (Array.isArray(rejected)) return rejected.length;
  } catch {
    // A 2xx without a JSON body (a proxy, an older gateway): nothing to count.
  }
  return 0;
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  if (error.name === 'TimeoutError') return 'no answer within the request timeout';
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}
