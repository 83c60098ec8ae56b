/**
 * The client against a local HTTP stand-in for the gateway: batching by size and interval, gzip, retries honouring
 * Retry-After, the bound, refusals, redaction, shutdown, and that nothing ever throws into the caller.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type ClientOptions, type VigilClient } from './client.ts';
import type { VigilClientError } from './errors.ts';
import { pollUntil } from '../shared/wait.ts';
import { acceptAll, freePort, HttpSink } from './testing/http-sink.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function sink(opts: Parameters<typeof HttpSink.start>[0] = {}): Promise<HttpSink> {
  const s = await HttpSink.start(opts);
  cleanups.push(() => s.close());
  return s;
}

function client(url: string, opts: Partial<ClientOptions> = {}): { vigil: VigilClient; errors: VigilClientError[] } {
  const errors: VigilClientError[] = [];
  const vigil = createClient({
    source: 'test-service',
    gateway: { url, token: 'tok-123' },
    flushIntervalMs: 60_000,
    backoff: { initialMs: 20, maxMs: 100 },
    onError: (e) => errors.push(e),
    ...opts,
  });
  cleanups.push(() => vigil.close({ timeoutMs: 500 }));
  return { vigil, errors };
}

describe('delivery', () => {
  it('posts gzip batches of events and metrics with the bearer token, in the gateway wire shape', async () => {
    const s = await sink();
    const { vigil, errors } = client(s.url);
    const before = Date.now();
    vigil.eventLogger({ requestId: 'req-1' }).info('Payment processing started', { amount: 12.5, currency: 'EUR' });
    vigil.event({ event_type: 'trace', message: 'span', payload: { spans: 3 } });
    vigil.metric.histogram('http_request_duration_ms', 12.5, { route: '/x' });
    vigil.metric.gauge('queue_depth', 7);
    vigil.metric.counter('payments_total', 1, { currency: 'EUR' });
    vigil.metric.counter('payments_total', 2, { currency: 'EUR' });
    vigil.metric.counter('payments_total', 1, { currency: 'USD' });
    await vigil.flush();

    expect(errors).toEqual([]);
    for (const r of s.requests) {
      expect(r.headers).toMatchObject({
        authorization: 'Bearer tok-123',
        'content-encoding': 'gzip',
        'content-type': 'application/json',
      });
    }
    expect(s.requests.map((r) => r.path).sort()).toEqual(['/api/v1/monitoring/events', '/api/v1/monitoring/metrics']);
    const events = s.received('events');
    expect(events).toEqual([
      {
        id: expect.stringMatching(UUID_V7),
        event_type: 'log',
        source: 'test-service',
        message: 'Payment processing started',
        level: 'info',
        tags: { request_id: 'req-1', amount: 12.5, currency: 'EUR' },
        payload: {},
        timestamp: expect.any(Number),
      },
      {
        id: expect.stringMatching(UUID_V7),
        event_type: 'trace',
        source: 'test-service',
        message: 'span',
        level: null,
        tags: {},
        payload: { spans: 3 },
        timestamp: expect.any(Number),
      },
    ]);
    expect(events[0].timestamp).toBeGreaterThanOrEqual(before);
    const metrics = s
      .received('metrics')
      .map(
        ({ id, timestamp, ...m }) => (expect(id).toMatch(UUID_V7), expect(timestamp).toBeGreaterThanOrEqual(before), m),
      );
    expect(metrics).toEqual([
      { name: 'http_request_duration_ms', metric_type: 'histogram', value: 12.5, labels: { route: '/x' } },
      { name: 'queue_depth', metric_type: 'gauge', value: 7, labels: {} },
      // Counter increments are summed per series per interval.
      { name: 'payments_total', metric_type: 'counter', value: 3, labels: { currency: 'EUR' } },
      { name: 'payments_total', metric_type: 'counter', value: 1, labels: { currency: 'USD' } },
    ]);
    expect(vigil.stats()).toEqual({
      events: { queued: 0, inFlight: 0, sent: 2, dropped: 0, rejected: 0, invalid: 0, retries: 0 },
      metrics: { queued: 0, inFlight: 0, sent: 4, dropped: 0, rejected: 0, invalid: 0, retries: 0 },
    });
  });

  it('sends as soon as a batch is full, and the rest on the interval', async () => {
    const s = await sink();
    const { vigil } = client(s.url, { maxBatchItems: 10, flushIntervalMs: 1500 });
    const started = Date.now();
    for (let i = 0; i < 25; i++) vigil.log.info(`m${i}`);
    // Two full batches go at once; the last five wait for the interval.
    await pollUntil('the second request', () => s.requests.length === 2, 5000);
    expect(s.requests[1].at - started).toBeLessThan(1000);
    await pollUntil('the third request', () => s.requests.length === 3, 5000);
    expect(s.requests[2].at - started).toBeGreaterThanOrEqual(1500);
    expect(s.requests.map((r) => r.body!.events!.length)).toEqual([10, 10, 5]);
    expect(s.received('events').map((e) => e.message)).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`));
  });

  it('applies default labels and redacts sensitive keys in tags, payload and labels', async () => {
    const s = await sink();
    const { vigil } = client(s.url, { defaultLabels: { service: 'svc', region: 'eu' } });
    vigil.log.info('login', { user_id: 7, password: 'hunter2', headers: { Authorization: 'Bearer x' } });
    vigil.event({ payload: { card_number: '4111111111111111', amount: 3 } });
    vigil.metric.gauge('sessions', 1, { api_key: 'k', region: 'us' });
    await vigil.flush();
    const [login, payment] = s.received('events');
    expect(login.tags).toEqual({ user_id: 7, password: '[REDACTED]', headers: { Authorization: '[REDACTED]' } });
    expect(payment.payload).toEqual({ card_number: '[REDACTED]', amount: 3 });
    expect(s.received('metrics')[0].labels).toEqual({ service: 'svc', region: 'us', api_key: '[REDACTED]' });
  });
});

describe('failures', () => {
  it('retries a 503 after the Retry-After delay with the same ids', async () => {
    const s = await sink({
      answer: (r, i) =>
        i === 0 ? { status: 503, headers: { 'retry-after': '1' }, body: { success: false } } : acceptAll(r),
    });
    const { vigil, errors } = client(s.url);
    vigil.log.warn('disk almost full');
    await vigil.flush();
    expect(s.requests).toHaveLength(2);
    const [first, second] = s.requests;
    expect(second.at - first.at).toBeGreaterThanOrEqual(1000);
    expect(second.body).toEqual(first.body);
    expect(vigil.stats().events).toMatchObject({ sent: 1, retries: 1, dropped: 0 });
    expect(errors.map((e) => e.code)).toEqual(['VIGIL_CLIENT_RETRYING']);
  });

  it('retries 429, 500 and connection errors with backoff until delivered', async () => {
    const statuses = [429, 500, 502];
    const s = await sink({ answer: (r, i) => (i < statuses.length ? { status: statuses[i] } : acceptAll(r)) });
    const { vigil } = client(s.url);
    vigil.metric.gauge('g', 1);
    await vigil.flush();
    expect(s.requests).toHaveLength(4);
    expect(vigil.stats().metrics).toMatchObject({ sent: 1, retries: 3 });
  });

  it('does not retry refusals: 400 and 401 count as rejected, 413 splits the batch', async () => {
    const s = await sink({
      answer: (r) => {
        if (r.path.endsWith('/events'))
          return { status: 401, body: { success: false, error: { code: 'VIGIL_ERR_UNAUTHORIZED' } } };
        const n = r.body!.metrics!.length;
        return n > 2
          ? { status: 413 }
          : n === 2
            ? { status: 202, body: { success: true, data: { accepted: 1, rejected: 1 } } }
            : acceptAll(r);
      },
    });
    const { vigil, errors } = client(s.url);
    vigil.log.info('x');
    for (let i = 0; i < 5; i++) vigil.metric.gauge('g', i);
    await vigil.flush();
    // 5 → 413 → 3 (413 → 2 + 1) + 2.
    expect(s.requests.filter((r) => r.path.endsWith('/metrics')).map((r) => r.body!.metrics!.length)).toEqual([
      5, 3, 2, 1, 2,
    ]);
    expect(vigil.stats()).toMatchObject({
      events: { sent: 0, rejected: 1, retries: 0 },
      metrics: { sent: 3, rejected: 2, retries: 0 },
    });
    expect(errors.filter((e) => e.code === 'VIGIL_CLIENT_REJECTED').map((e) => [e.stream, e.count])).toEqual([
      ['events', 1],
      ['metrics', 1],
      ['metrics', 1],
    ]);
  });

  it('buffers within its bound while the gateway is down, evicting the oldest, then delivers', async () => {
    const port = await freePort();
    const { vigil } = client(`http://127.0.0.1:${port}`, {
      maxQueueItems: 100,
      maxBatchItems: 50,
      flushIntervalMs: 50,
    });
    for (let i = 0; i < 250; i++) vigil.log.info(`m${i}`);
    // The first batch (0..49) went in flight at once; the queue holds the newest 100; 50..149 were evicted. Waits
    // for the first failed attempt rather than for a fixed time (a loaded machine may not have made one yet).
    await pollUntil('a failed attempt', () => vigil.stats().events.retries > 0, 15_000);
    expect(vigil.stats().events).toMatchObject({ queued: 100, inFlight: 50, dropped: 100, sent: 0 });

    const s = await sink({ port });
    await vigil.flush();
    await pollUntil('150 events sent', () => vigil.stats().events.sent === 150, 15_000);
    const expected = [
      ...Array.from({ length: 50 }, (_, i) => `m${i}`),
      ...Array.from({ length: 100 }, (_, i) => `m${150 + i}`),
    ];
    expect(s.received('events').map((e) => e.message)).toEqual(expected);
    expect(vigil.stats().events).toMatchObject({ queued: 0, inFlight: 0, dropped: 100, sent: 150 });
  });

  it('never throws into the caller, whatever it is given', async () => {
    const s = await sink();
    const { vigil } = client(s.url, {
      onError: () => {
        throw new Error('a broken onError');
      },
    });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const calls = [
      () => vigil.metric.counter('bad name!', 1),
      () => vigil.metric.counter('ok_total', -1),
      () => vigil.metric.counter('ok_total', Number.NaN),
      () => vigil.metric.gauge('g', Infinity),
      () => vigil.metric.histogram('h', 1, { 'bad-label': 'x' }),
      () => vigil.metric.gauge('g', 1, { l: 3 as unknown as string }),
      () => vigil.log.info('cyclic', cyclic),
      () => vigil.event(null as never),
      () => vigil.event({ event_type: 'bogus' as never }),
      () => vigil.event({ tags: 'not an object' as never }),
      () => vigil.log.info('x'.repeat(100_000)),
    ];
    for (const call of calls) expect(call).not.toThrow();
    await vigil.flush();
    expect(vigil.stats()).toMatchObject({ events: { invalid: 5, sent: 0 }, metrics: { invalid: 6, sent: 0 } });
    expect(s.requests).toEqual([]);
  });
});

describe('close', () => {
  it('flushes on beforeExit when a process simply ends without close()', async () => {
    const s = await sink();
    const fixture = new URL('./testing/exit-fixture.ts', import.meta.url).pathname;
    await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture, s.url], { timeout: 20_000 });
    expect(s.received('events').map((e) => [e.source, e.message])).toEqual([['short-lived-job', 'job finished']]);
    expect(s.received('metrics').map((m) => [m.name, m.value])).toEqual([['jobs_total', 1]]);
  });

  it('flushes what is queued, then drops and counts calls made after it', async () => {
    const s = await sink();
    const { vigil } = client(s.url);
    vigil.log.info('last words');
    vigil.metric.counter('shutdowns_total');
    const stats = await vigil.close();
    expect(stats).toMatchObject({ events: { sent: 1 }, metrics: { sent: 1 } });
    vigil.log.info('too late');
    vigil.metric.histogram('h', 1);
    expect(vigil.stats()).toMatchObject({ events: { sent: 1, dropped: 1 }, metrics: { sent: 1, dropped: 1 } });
    expect(s.received('events').map((e) => e.message)).toEqual(['last words']);
  });

  it('gives up at its deadline when the gateway stays down, counting what is lost', async () => {
    const port = await freePort();
    const { vigil } = client(`http://127.0.0.1:${port}`, { backoff: { initialMs: 100, maxMs: 100 } });
    for (let i = 0; i < 10; i++) vigil.log.info(`m${i}`);
    const started = Date.now();
    const stats = await vigil.close({ timeoutMs: 400 });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(stats.events).toMatchObject({ queued: 0, inFlight: 0, sent: 0, dropped: 10 });
  });
});
