/**
 * The Fastify plugin through app.inject(), with an in-memory transport to see exactly what it emits.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions, type onSendHookHandler } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type VigilClient } from './client.ts';
import { vigilFastify, type VigilPluginOptions } from './fastify-plugin.ts';
import { DEFAULT_DURATION_BUCKETS_MS } from './histograms.ts';
import { genReqId } from './request-id.ts';
import { MemoryTransport } from './testing/memory-transport.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let apps: FastifyInstance[] = [];
let clients: VigilClient[] = [];
afterEach(async () => {
  for (const app of apps) await app.close();
  for (const client of clients) await client.close();
  apps = [];
  clients = [];
});

async function instrumented(opts: Partial<VigilPluginOptions> = {}, fastifyOpts: FastifyServerOptions = {}) {
  const transport = new MemoryTransport();
  const client: VigilClient = createClient({
    source: 'orders-service',
    transport,
    flushIntervalMs: 60_000,
    onError: () => {},
  });
  const app = Fastify(fastifyOpts);
  await app.register(vigilFastify, { client, ...opts });
  app.get('/orders/:id', async (request) => {
    request.vigil.logger.info('order read', { order_id: (request.params as { id: string }).id });
    return { id: (request.params as { id: string }).id, downstream: request.vigil.headers() };
  });
  app.get('/boom', async () => {
    throw new TypeError('database exploded');
  });
  app.get('/admin', async (_request, reply) => reply.status(403).send({ error: 'forbidden' }));
  app.get('/login', async (_request, reply) => reply.status(401).send({ error: 'unauthorized' }));
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/api/health', async () => ({ ok: true }));
  app.get('/static/*', async () => 'body{}');
  app.get('/internal', { config: { vigil: false } }, async () => 'quiet');
  apps.push(app);
  clients.push(client);
  const drain = async () => {
    await client.flush();
    return { events: transport.events, metrics: transport.metrics.map(({ id: _id, timestamp: _ts, ...m }) => m) };
  };
  return { app, client, drain };
}

type Sample = Record<string, unknown> & { name: string; value: number; labels: Record<string, string> };

/** The aggregated duration histograms in `metrics`, per label set (without le): buckets by le, sum and count. */
function durationHistograms(metrics: Record<string, unknown>[]) {
  const byLabels = new Map<
    string,
    { labels: Record<string, string>; buckets: Record<string, number>; sum: number; count: number }
  >();
  for (const m of metrics as Sample[]) {
    if (!m.name.startsWith('http_request_duration_ms_')) continue;
    expect(m.metric_type).toBe('counter');
    const { le, ...labels } = m.labels;
    const key = JSON.stringify(labels);
    const h = byLabels.get(key) ?? { labels, buckets: {}, sum: 0, count: 0 };
    byLabels.set(key, h);
    if (m.name === 'http_request_duration_ms_bucket') h.buckets[le] = (h.buckets[le] ?? 0) + m.value;
    else if (m.name === 'http_request_duration_ms_sum') h.sum += m.value;
    else if (m.name === 'http_request_duration_ms_count') h.count += m.value;
    else throw new Error(`unexpected ${m.name}`);
  }
  return [...byLabels.values()];
}

const LE = [...DEFAULT_DURATION_BUCKETS_MS.map(String), '+Inf'];
const LE_SORTED = [...LE].sort();

describe('request ids', () => {
  it('keeps a valid incoming X-Request-Id, replaces a missing or invalid one, and echoes it', async () => {
    const { app } = await instrumented();
    const given = await app.inject({ url: '/orders/1', headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers['x-request-id']).toBe('abc-123');
    expect(given.json().downstream).toEqual({ 'x-request-id': 'abc-123' });
    const missing = await app.inject({ url: '/orders/1' });
    expect(missing.headers['x-request-id']).toMatch(UUID);
    const invalid = await app.inject({ url: '/orders/1', headers: { 'x-request-id': 'has spaces and ✓' } });
    expect(invalid.headers['x-request-id']).toMatch(UUID);
    expect(invalid.headers['x-request-id']).not.toBe(missing.headers['x-request-id']);
  });

  it('shares the id with Fastify request.id when the app uses genReqId', async () => {
    const { app } = await instrumented({}, { genReqId });
    app.get('/ids', async (request) => ({ fastify: request.id, vigil: request.vigil.requestId }));
    const res = await app.inject({ url: '/ids' });
    const { fastify, vigil } = res.json();
    expect(vigil).toBe(fastify);
    expect(res.headers['x-request-id']).toBe(fastify);
  });
});

describe('metrics', () => {
  it('records duration (aggregated histogram) and count per method, route pattern and status', async () => {
    const { app, drain } = await instrumented();
    const started = performance.now();
    for (const id of ['1', '2', '3']) await app.inject({ url: `/orders/${id}` });
    await app.inject({ url: '/boom' });
    await app.inject({ url: '/no/such/path/42' });
    const elapsedMs = performance.now() - started;
    const { metrics } = await drain();
    const labels = (route: string, status: string) => ({ service: 'orders-service', method: 'GET', route, status });
    expect(metrics.filter((m) => m.name === 'http_requests_total')).toEqual([
      { name: 'http_requests_total', metric_type: 'counter', value: 3, labels: labels('/orders/:id', '200') },
      { name: 'http_requests_total', metric_type: 'counter', value: 1, labels: labels('/boom', '500') },
      { name: 'http_requests_total', metric_type: 'counter', value: 1, labels: labels('unmatched', '404') },
    ]);
    const histograms = durationHistograms(metrics);
    expect(histograms.map((h) => ({ labels: h.labels, count: h.count, le: Object.keys(h.buckets).sort() }))).toEqual([
      { labels: labels('/orders/:id', '200'), count: 3, le: LE_SORTED },
      { labels: labels('/boom', '500'), count: 1, le: LE_SORTED },
      { labels: labels('unmatched', '404'), count: 1, le: LE_SORTED },
    ]);
    for (const h of histograms) {
      const cumulative = LE.map((le) => h.buckets[le]);
      expect(cumulative).toEqual([...cumulative].sort((a, b) => a - b)); // non-decreasing
      expect(h.buckets['+Inf']).toBe(h.count);
      // Every request took some time, and all of them together no longer than the test spent making them.
      expect(h.sum).toBeGreaterThan(0);
      expect(h.sum).toBeLessThanOrEqual(elapsedMs);
    }
    expect(metrics.filter((m) => m.metric_type === 'histogram')).toEqual([]);
  });

  it('puts each duration in its bucket (a 30 ms handler: above 25 ms, at most 10 s)', async () => {
    const { app, drain } = await instrumented();
    app.get('/slow', async () => new Promise((resolve) => setTimeout(() => resolve('done'), 30)));
    await app.inject({ url: '/slow' });
    const [h] = durationHistograms((await drain()).metrics);
    expect(h.buckets).toMatchObject({ '0.5': 0, '1': 0, '2.5': 0, '5': 0, '10': 0, '25': 0, '10000': 1, '+Inf': 1 });
    expect(h.sum).toBeGreaterThanOrEqual(29); // timers may fire up to 1 ms early
    expect(h.count).toBe(1);
  });

  it('takes its own bucket bounds, and refuses invalid ones at registration', async () => {
    const { app, drain } = await instrumented({ durationBuckets: [1000, 60_000] });
    await app.inject({ url: '/orders/1' });
    const [h] = durationHistograms((await drain()).metrics);
    expect(h.buckets).toEqual({ '1000': 1, '60000': 1, '+Inf': 1 });
    const client = createClient({ source: 's', transport: new MemoryTransport(), onError: () => {} });
    clients.push(client);
    for (const durationBuckets of [[], [5, 1], [1, Infinity]]) {
      await expect(
        Fastify().register(vigilFastify, { client, durationBuckets }).ready(),
        JSON.stringify(durationBuckets),
      ).rejects.toThrow(/durationBuckets/);
    }
  });

  it('adds no onResponse hook, so Fastify does not time and watch each response for it (bench/README.md)', async () => {
    const { app } = await instrumented();
    app.get('/elapsed', async (_request, reply) => {
      await new Promise((resolve) => setTimeout(resolve, 5)); // deliberately: time a response timer would count
      return { elapsed: reply.elapsedTime };
    });
    expect((await app.inject({ url: '/elapsed' })).json()).toEqual({ elapsed: 0 });
  });

  it('counts a request once when a later onSend hook fails and the error answer runs the hooks again', async () => {
    const transport = new MemoryTransport();
    const client = createClient({ source: 's', transport, flushIntervalMs: 60_000, onError: () => {} });
    clients.push(client);
    const app = Fastify();
    apps.push(app);
    await app.register(vigilFastify, { client });
    // Another plugin's route hook, added after the vigil one: fails the first answer, so Fastify answers 500.
    let failed = false;
    const failOnce: onSendHookHandler = (_request, _reply, payload, done) => {
      if (failed) return done(null, payload);
      failed = true;
      done(new Error('onSend failed'));
    };
    app.addHook('onRoute', (route) => {
      route.onSend = [...(Array.isArray(route.onSend) ? route.onSend : route.onSend ? [route.onSend] : []), failOnce];
    });
    app.get('/flaky-send', async () => 'ok');
    expect((await app.inject({ url: '/flaky-send' })).statusCode).toBe(500);
    await client.flush();
    expect(
      transport.metrics.filter((m) => m.name === 'http_requests_total').map(({ value, labels }) => ({ value, labels })),
    ).toEqual([{ value: 1, labels: { service: 's', method: 'GET', route: '/flaky-send', status: '200' } }]);
  });

  it("sends one histogram observation per request with durations: 'observations'", async () => {
    const { app, drain } = await instrumented({ durations: 'observations' });
    const started = performance.now();
    for (const id of ['1', '2', '3']) await app.inject({ url: `/orders/${id}` });
    await app.inject({ url: '/boom' });
    await app.inject({ url: '/no/such/path/42' });
    const elapsedMs = performance.now() - started;
    const { metrics } = await drain();
    const labels = (route: string, status: string) => ({ service: 'orders-service', method: 'GET', route, status });
    const histograms = metrics.filter((m) => m.metric_type === 'histogram');
    expect(histograms).toEqual([
      ...['1', '2', '3'].map(() => ({
        name: 'http_request_duration_ms',
        metric_type: 'histogram',
        value: expect.any(Number),
        labels: labels('/orders/:id', '200'),
      })),
      {
        name: 'http_request_duration_ms',
        metric_type: 'histogram',
        value: expect.any(Number),
        labels: labels('/boom', '500'),
      },
      {
        name: 'http_request_duration_ms',
        metric_type: 'histogram',
        value: expect.any(Number),
        labels: labels('unmatched', '404'),
      },
    ]);
    for (const h of histograms) {
      expect(h.value as number).toBeGreaterThan(0);
      expect(h.value as number).toBeLessThanOrEqual(elapsedMs);
    }
    expect(metrics.filter((m) => m.metric_type === 'counter')).toEqual([
      { name: 'http_requests_total', metric_type: 'counter', value: 3, labels: labels('/orders/:id', '200') },
      { name: 'http_requests_total', metric_type: 'counter', value: 1, labels: labels('/boom', '500') },
      { name: 'http_requests_total', metric_type: 'counter', value: 1, labels: labels('unmatched', '404') },
    ]);
  });

  it('skips health checks, static files and routes configured with vigil: false', async () => {
    const { app, drain } = await instrumented();
    for (const url of ['/healthz', '/api/health', '/static/app.js', '/static/logo.png', '/internal', '/favicon.ico']) {
      const res = await app.inject({ url });
      expect(res.headers['x-request-id'], url).toEqual(expect.any(String));
    }
    expect(await drain()).toEqual({ events: [], metrics: [] });
  });

  it('takes a custom skip function', async () => {
    const { app, drain } = await instrumented({
      skip: (request) => request.method === 'GET' && request.url.startsWith('/orders'),
    });
    await app.inject({ url: '/orders/1' });
    await app.inject({ url: '/healthz' });
    const { metrics } = await drain();
    expect(new Set(metrics.map((m) => (m.labels as { route: string }).route))).toEqual(new Set(['/healthz']));
  });
});

describe('events', () => {
  it('logs 5xx as error events with the error, bound to the request id', async () => {
    const { app, drain } = await instrumented({ userId: () => 'u-7' });
    await app.inject({ url: '/boom?secret=x', headers: { 'x-request-id': 'req-boom' } });
    const { events } = await drain();
    expect(events).toEqual([
      {
        id: expect.any(String),
        event_type: 'log',
        source: 'orders-service',
        message: 'GET /boom answered 500',
        level: 'error',
        tags: {
          request_id: 'req-boom',
          error_type: 'TypeError',
          method: 'GET',
          route: '/boom',
          path: '/boom',
          status: 500,
          duration_ms: expect.any(Number),
          user_id: 'u-7',
        },
        payload: {
          error_message: 'database exploded',
          error_stack: expect.stringMatching(/^TypeError: database exploded\n/),
        },
        timestamp: expect.any(Number),
      },
    ]);
  });

  it('logs failed authentication and permission denials as warn events, the IP only when asked', async () => {
    const { app, drain } = await instrumented({ logClientIp: true });
    await app.inject({ url: '/login', headers: { 'x-request-id': 'r-401' } });
    await app.inject({ url: '/admin', headers: { 'x-request-id': 'r-403' } });
    const { events } = await drain();
    expect(events.map(({ message, level, tags }) => ({ message, level, tags }))).toEqual([
      {
        message: 'GET /login answered 401 (authentication failed)',
        level: 'warn',
        tags: {
          request_id: 'r-401',
          method: 'GET',
          route: '/login',
          path: '/login',
          status: 401,
          duration_ms: expect.any(Number),
          action: 'auth_failed',
          ip: '127.0.0.1',
        },
      },
      {
        message: 'GET /admin answered 403 (permission denied)',
        level: 'warn',
        tags: {
          request_id: 'r-403',
          method: 'GET',
          route: '/admin',
          path: '/admin',
          status: 403,
          duration_ms: expect.any(Number),
          action: 'permission_denied',
          ip: '127.0.0.1',
        },
      },
    ]);
  });

  it('logs nothing for successful requests and 404s other than what handlers log', async () => {
    const { app, drain } = await instrumented();
    await app.inject({ url: '/orders/9', headers: { 'x-request-id': 'r-ok' } });
    await app.inject({ url: '/nope' });
    const { events } = await drain();
    expect(events.map(({ message, tags }) => ({ message, tags }))).toEqual([
      { message: 'order read', tags: { request_id: 'r-ok', order_id: '9' } },
    ]);
  });
});

describe('lifecycle', () => {
  it('flushes the client when Fastify closes', async () => {
    const transport = new MemoryTransport();
    const client = createClient({ source: 's', transport, flushIntervalMs: 60_000 });
    const app = Fastify();
    await app.register(vigilFastify, { client });
    app.get('/x', async () => 'x');
    await app.inject({ url: '/x' });
    expect(transport.metrics).toEqual([]);
    await app.close();
    expect(new Set(transport.metrics.map((m) => m.name))).toEqual(
      new Set([
        'http_requests_total',
        'http_request_duration_ms_bucket',
        'http_request_duration_ms_sum',
        'http_request_duration_ms_count',
      ]),
    );
    await client.close();
  });

  it('does not hold app.close() hostage to a gateway that is down', async () => {
    const client = createClient({
      source: 's',
      gateway: { url: 'http://127.0.0.1:9', token: 't' },
      flushIntervalMs: 60_000,
      onError: () => {},
    });
    const app = Fastify();
    await app.register(vigilFastify, { client });
    app.get('/x', async () => 'x');
    await app.inject({ url: '/x' });
    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(4000);
    // The request's samples: http_requests_total, and the histogram's 15 buckets, _sum and _count.
    expect((await client.close({ timeoutMs: 100 })).metrics).toMatchObject({ sent: 0, dropped: 18 });
  });

  it('refuses to register without a client', async () => {
    const app = Fastify();
    await expect(app.register(vigilFastify, {} as VigilPluginOptions).ready()).rejects.toThrow(/client/);
  });
});
