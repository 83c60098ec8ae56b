/**
 * A stand-in gateway for the client's tests and benchmarks: a plain node:http server that gunzips and parses
 * POSTed batches, records them (or only counts them, for benchmarks), and answers as scripted. Not a mock of
 * Kafka or PostgreSQL: those are exercised for real by the integration tests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

export interface SinkRequest {
  at: number;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (null when not recorded). */
  body: { events?: Record<string, unknown>[]; metrics?: Record<string, unknown>[] } | null;
}

export interface SinkAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface SinkOptions {
  port?: number;
  /** Keep parsed bodies (tests). Default true. */
  record?: boolean;
  /** Decompress and parse bodies (and count items). false: read and answer 202 only, the cheapest sink (benchmarks). */
  parse?: boolean;
  /** Default: 202 with the gateway's batch answer, everything accepted. */
  answer?: (request: SinkRequest, index: number) => SinkAnswer;
}

export class HttpSink {
  readonly requests: SinkRequest[] = [];
  items = 0;
  answer: (request: SinkRequest, index: number) => SinkAnswer;
  private constructor(
    private readonly server: http.Server,
    private readonly record: boolean,
    answer: SinkOptions['answer'],
  ) {
    this.answer = answer ?? acceptAll;
  }

  static async start(opts: SinkOptions = {}): Promise<HttpSink> {
    let sink: HttpSink;
    let index = 0;
    const server = http.createServer((req, res) => {
      if (opts.parse === false) {
        req.resume();
        req.on('end', () => res.writeHead(202, { 'content-type': 'application/json' }).end('{"success":true}'));
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = (req.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw) : raw).toString('utf8');
        const body = JSON.parse(text) as SinkRequest['body'];
        const request: SinkRequest = {
          at: Date.now(),
          path: req.url ?? '',
          headers: req.headers,
          body: sink.record ? body : null,
        };
        sink.items += (body?.events ?? body?.metrics ?? []).length;
        if (sink.record) sink.requests.push(request);
        const answer = sink.answer({ ...request, body }, index++);
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(JSON.stringify(answer.body ?? {}));
      });
    });
    sink = new HttpSink(server, opts.record ?? true, opts.answer);
    await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
    return sink;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Every item received on `path` (e.g. '/api/v1/monitoring/events'), in arrival order. */
  received(kind: 'events' | 'metrics'): Record<string, unknown>[] {
    return this.requests.filter((r) => r.path.endsWith(`/${kind}`)).flatMap((r) => r.body?.[kind] ?? []);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export function acceptAll(request: SinkRequest): SinkAnswer {
  const n = (request.body?.events ?? request.body?.metrics ?? []).length;
  return { status: 202, body: { success: true, data: { accepted: n, rejected: 0 } } };
}

/** A port nothing listens on (yet): bind, read the port, release it. */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
