/**
 * The client against the real pipeline (gateway → Kafka → writer → PostgreSQL → query API): what it sends over
 * HTTP and straight to Kafka is stored and queryable, and it rides out a gateway that is down, within its bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { createTestContext, countRows, waitFor, type TestContext } from '../test/helpers/context.ts';
import type { Runtime } from '../bin/runtime.ts';
import { createClient, type ClientOptions, type VigilClient } from './client.ts';
import type { VigilClientError } from './errors.ts';
import { freePort } from './testing/http-sink.ts';

const SUB = '0b5e1c2a-1111-4a57-9d8e-0b2f7a0c1d42';

describe('client → real pipeline', () => {
  let ctx: TestContext;
  let api: Runtime;
  let url: string;
  const clients: VigilClient[] = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway,writer,query');
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const client of clients) await client.close({ timeoutMs: 1000 });
    await ctx?.cleanup();
  });

  function client(opts: Partial<ClientOptions> & Pick<ClientOptions, 'source'>): {
    vigil: VigilClient;
    errors: VigilClientError[];
  } {
    const errors: VigilClientError[] = [];
    const vigil = createClient({
      gateway: { url, token: ctx.token('user', SUB) },
      flushIntervalMs: 100,
      onError: (e) => errors.push(e),
      ...opts,
    });
    clients.push(vigil);
    return { vigil, errors };
  }

  const getEvents = async (query: string) => {
    const res = await api.app.inject({
      url: `/api/v1/monitoring/events?${query}`,
      headers: { authorization: `Bearer ${ctx.token('user')}` },
    });
    expect(res.statusCode).toBe(200);
    return res.json().data as Record<string, unknown>[];
  };

  const metricRows = (name: string) =>
    ctx.db
      .query<{ name: string; metric_type: string; value: number; labels: Record<string, string>; created_by: string }>(
        'SELECT name, metric_type, value, labels, created_by FROM metrics WHERE name = $1 ORDER BY "timestamp", id',
        [name],
      )
      .then((r) => r.rows);

  it('stores events and metrics sent over HTTP, queryable through the API', async () => {
    const { vigil, errors } = client({ source: 'payment-service' });
    const logger = vigil.eventLogger({ requestId: 'req-pay-1' });
    logger.info('Payment processing started', { amount: 42.5, currency: 'EUR', api_key: 'sk_live_123' });
    logger.error('Payment failed', { currency: 'EUR' }, new RangeError('card declined'));
    vigil.metric.histogram('payment_duration_ms', 182.5, { provider: 'stripe' });
    vigil.metric.gauge('payment_queue_depth', 3);
    vigil.metric.counter('payments_total', 1, { currency: 'EUR' });
    vigil.metric.counter('payments_total', 1, { currency: 'EUR' });
    const stats = await vigil.close();

    expect(errors).toEqual([]);
    expect(stats).toEqual({
      events: { queued: 0, inFlight: 0, sent: 2, dropped: 0, rejected: 0, invalid: 0, retries: 0 },
      metrics: { queued: 0, inFlight: 0, sent: 3, dropped: 0, rejected: 0, invalid: 0, retries: 0 },
    });
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source = 'payment-service'"),
      (n) => n === 2,
    );
    const events = await getEvents('source=payment-service');
    expect(events).toEqual([
      {
        id: expect.any(String),
        event_type: 'log',
        source: 'payment-service',
        message: 'Payment failed',
        level: 'error',
        tags: { request_id: 'req-pay-1', error_type: 'RangeError', currency: 'EUR' },
        payload: { error_message: 'card declined', error_stack: expect.stringMatching(/^RangeError: card declined\n/) },
        timestamp: expect.any(String),
        created_by: SUB,
        created_at: expect.any(String),
      },
      {
        id: expect.any(String),
        event_type: 'log',
        source: 'payment-service',
        message: 'Payment processing started',
        level: 'info',
        tags: { request_id: 'req-pay-1', amount: 42.5, currency: 'EUR', api_key: '[REDACTED]' },
        payload: {},
        timestamp: expect.any(String),
        created_by: SUB,
        created_at: expect.any(String),
      },
    ]);

    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM metrics WHERE name LIKE 'payment%'"),
      (n) => n === 3,
    );
    expect(await metricRows('payment_duration_ms')).toEqual([
      {
        name: 'payment_duration_ms',
        metric_type: 'histogram',
        value: 182.5,
        labels: { provider: 'stripe' },
        created_by: SUB,
      },
    ]);
    expect(await metricRows('payment_queue_depth')).toEqual([
      { name: 'payment_queue_depth', metric_type: 'gauge', value: 3, labels: {}, created_by: SUB },
    ]);
    expect(await metricRows('payments_total')).toEqual([
      { name: 'payments_total', metric_type: 'counter', value: 2, labels: { currency: 'EUR' }, created_by: SUB },
    ]);

    // And through the query API.
    const sample = {
      id: expect.any(String),
      timestamp: expect.any(String),
      created_by: SUB,
      created_at: expect.any(String),
    };
    const getMetrics = async (query: string) => {
      const res = await api.app.inject({
        url: `/api/v1/monitoring/metrics?${query}`,
        headers: { authorization: `Bearer ${ctx.token('user')}` },
      });
      expect(res.statusCode).toBe(200);
      return res.json().data as Record<string, unknown>[];
    };
    expect(await getMetrics('name=payments_total')).toEqual([
      { ...sample, name: 'payments_total', metric_type: 'counter', value: 2, labels: { currency: 'EUR' } },
    ]);
    expect(await getMetrics('name=payment_duration_ms&label.provider=stripe')).toEqual([
      {
        ...sample,
        name: 'payment_duration_ms',
        metric_type: 'histogram',
        value: 182.5,
        labels: { provider: 'stripe' },
      },
    ]);
  });

  it('stores events and metrics sent straight to Kafka as JSON records', async () => {
    const errors: VigilClientError[] = [];
    const vigil = createClient({
      source: 'batch-job',
      kafka: {
        brokers: ctx.config.kafka.brokers,
        topics: { events: ctx.config.kafka.topics.events, metrics: ctx.config.kafka.topics.metrics },
      },
      flushIntervalMs: 100,
      onError: (e) => errors.push(e),
    });
    clients.push(vigil);
    vigil.log.info('nightly export done', { rows: 1200, password: 'p' });
    vigil.metric.gauge('export_rows', 1200, { table: 'orders' });
    const stats = await vigil.close({ timeoutMs: 15_000 });
    expect(errors).toEqual([]);
    expect(stats).toMatchObject({ events: { sent: 1, dropped: 0 }, metrics: { sent: 1, dropped: 0 } });

    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source = 'batch-job'"),
      (n) => n === 1,
    );
    expect(await getEvents('source=batch-job')).toEqual([
      {
        id: expect.any(String),
        event_type: 'log',
        source: 'batch-job',
        message: 'nightly export done',
        level: 'info',
        tags: { rows: 1200, password: '[REDACTED]' },
        payload: {},
        timestamp: expect.any(String),
        created_by: 'kafka:batch-job',
        created_at: expect.any(String),
      },
    ]);
    await waitFor(
      () => metricRows('export_rows'),
      (rows) => rows.length === 1,
    );
    expect(await metricRows('export_rows')).toEqual([
      {
        name: 'export_rows',
        metric_type: 'gauge',
        value: 1200,
        labels: { table: 'orders' },
        created_by: 'kafka:batch-job',
      },
    ]);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events WHERE source = $1', ['batch-job'])).toBe(1);
  });
});

describe('client while the gateway is down', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext();
    await ctx.start('writer,query');
  });
  afterAll(() => ctx?.cleanup());

  it('buffers within its bound without throwing, then delivers when the gateway comes up', async () => {
    const port = await freePort();
    const errors: VigilClientError[] = [];
    const vigil = createClient({
      source: 'outage-service',
      gateway: { url: `http://127.0.0.1:${port}`, token: ctx.token('user', SUB) },
      maxQueueItems: 200,
      maxBatchItems: 100,
      flushIntervalMs: 50,
      backoff: { initialMs: 50, maxMs: 200 },
      onError: (e) => errors.push(e),
    });
    try {
      // 1000 events while nothing listens: none of these calls may throw or wait. They are synchronous, so "not
      // waiting" means not spending: their CPU time is bounded (wall time on a loaded machine measures the machine).
      const started = process.cpuUsage();
      for (let i = 0; i < 1000; i++)
        expect(() => vigil.eventLogger({ requestId: `r-${i}` }).info(`event ${i}`, { i })).not.toThrow();
      for (let i = 0; i < 50; i++) vigil.metric.histogram('outage_probe_ms', i);
      const spent = process.cpuUsage(started);
      expect((spent.user + spent.system) / 1000).toBeLessThan(1000);
      await waitFor(
        async () => vigil.stats().events.retries,
        (n) => n >= 2,
      );
      // The bound holds: 200 queued + one batch of 100 retrying; the oldest of the rest were evicted and counted.
      expect(vigil.stats().events).toMatchObject({ queued: 200, inFlight: 100, dropped: 700, sent: 0 });
      expect(errors.some((e) => e.code === 'VIGIL_CLIENT_RETRYING' && /ECONNREFUSED/.test(e.message))).toBe(true);

      const gateway = await ctx.start('gateway');
      await gateway.app.listen({ port, host: '127.0.0.1' });
      await waitFor(
        async () => vigil.stats().events.sent,
        (n) => n === 300,
      );
      await waitFor(
        () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source = 'outage-service'"),
        (n) => n === 300,
      );
      // Kept: the batch in flight (events 0..99) and the newest 200 (800..999).
      const { rows } = await ctx.db.query<{ i: number }>(
        "SELECT (tags->>'i')::int AS i FROM events WHERE source = 'outage-service' ORDER BY 1",
      );
      expect(rows.map((r) => r.i)).toEqual([...range(0, 100), ...range(800, 1000)]);
      await waitFor(
        () => countRows(ctx.db, "SELECT count(*) AS n FROM metrics WHERE name = 'outage_probe_ms'"),
        (n) => n === 50,
      );
      expect(vigil.stats()).toMatchObject({
        events: { sent: 300, dropped: 700, rejected: 0 },
        metrics: { sent: 50, dropped: 0, rejected: 0 },
      });
    } finally {
      await vigil.close({ timeoutMs: 1000 });
    }
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
