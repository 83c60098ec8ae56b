/**
 * The example shop (examples/shop: orders → payments, both instrumented with the plugin) against the real pipeline:
 * one request's events in both services share its request id, the plugin's metrics are stored with route patterns,
 * failed auth and 5xx become events, health checks and static files leave no trace, card numbers are redacted.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type VigilClient } from '../client/index.ts';
import { buildOrdersApp } from '../examples/shop/orders.ts';
import { buildPaymentsApp } from '../examples/shop/payments.ts';
import { countRows, createTestContext, waitFor, type TestContext } from './helpers/context.ts';
import type { Runtime } from '../bin/runtime.ts';

/** Orders events by request id (generated ids last), then source and message. */
function byRequest(a: { source: string; message: string; tags: Record<string, unknown> }, b: typeof a): number {
  const key = (e: typeof a) =>
    `${typeof e.tags.request_id === 'string' && e.tags.request_id.startsWith('shop-') ? e.tags.request_id : '~'} ` +
    `${e.source} ${e.message}`;
  return key(a).localeCompare(key(b));
}

const address = (app: FastifyInstance) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

describe('example shop instrumented with vigil/client', () => {
  let ctx: TestContext;
  let vigil: Runtime;
  let orders: FastifyInstance;
  let payments: FastifyInstance;
  let clients: VigilClient[];

  beforeAll(async () => {
    ctx = await createTestContext();
    vigil = await ctx.start('gateway,writer,query');
    await vigil.app.listen({ port: 0, host: '127.0.0.1' });
    const gateway = { url: address(vigil.app), token: ctx.token('user') };
    const onError = (e: Error) => console.error(e);
    clients = [
      createClient({ source: 'orders-service', gateway, onError }),
      createClient({ source: 'payments-service', gateway, onError }),
    ];
    payments = await buildPaymentsApp({ vigil: clients[1] });
    await payments.listen({ port: 0, host: '127.0.0.1' });
    orders = await buildOrdersApp({ vigil: clients[0], paymentsUrl: address(payments), adminKey: 'k' });
    await orders.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await orders?.close();
    await payments?.close();
    for (const client of clients ?? []) await client.close({ timeoutMs: 1000 });
    await ctx?.cleanup();
  });

  it('correlates a request across both services, measures by route pattern, logs failures, skips health', async () => {
    const shop = address(orders);
    const post = (requestId: string, body: object) =>
      fetch(`${shop}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': requestId, 'x-user-id': 'u-42' },
        body: JSON.stringify(body),
      });
    const created = await post('shop-req-1', {
      item: 'book',
      amount: 12.5,
      currency: 'EUR',
      card_number: '4111111111111111',
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-request-id')).toBe('shop-req-1');
    expect(await created.json()).toEqual({ id: '1', payment_id: 'pay_1' });
    const failed = await post('shop-req-2', {
      item: 'lamp',
      amount: 3,
      currency: 'XXX',
      card_number: '4000000000000002',
    });
    expect(failed.status).toBe(502);
    for (const [path, status] of [
      ['/orders/1', 200],
      ['/orders/2', 404],
      ['/admin/orders', 401],
      ['/healthz', 200],
      ['/static/app.js', 200],
    ] as const) {
      expect((await fetch(`${shop}${path}`)).status, path).toBe(status);
    }
    expect(
      (await fetch(`${shop}/admin/orders`, { headers: { 'x-admin-key': 'wrong', 'x-request-id': 'shop-req-3' } }))
        .status,
    ).toBe(403);
    const generated = await fetch(`${shop}/orders/1`);
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    await orders.close();
    await payments.close();
    const [ordersStats, paymentsStats] = await Promise.all(clients.map((c) => c.close()));
    expect(ordersStats.events).toMatchObject({ sent: 5, dropped: 0, rejected: 0, invalid: 0 });
    expect(paymentsStats.events).toMatchObject({ sent: 4, dropped: 0, rejected: 0, invalid: 0 });

    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n === 9,
    );
    const res = await vigil.app.inject({
      url: '/api/v1/monitoring/events?limit=100',
      headers: { authorization: `Bearer ${ctx.token('user')}` },
    });
    const events = (
      res.json().data as { source: string; message: string; level: string; tags: Record<string, unknown> }[]
    )
      .map(({ source, message, level, tags }) => ({ source, message, level, tags }))
      .sort(byRequest);
    const duration = expect.any(Number);
    expect(events).toEqual(
      [
        // One order, two services, one request id.
        {
          source: 'orders-service',
          message: 'Order created',
          level: 'info',
          tags: { request_id: 'shop-req-1', order_id: '1', item: 'book', payment_id: 'pay_1' },
        },
        {
          source: 'payments-service',
          message: 'Payment completed successfully',
          level: 'info',
          tags: { request_id: 'shop-req-1', order_id: '1', payment_id: 'pay_1' },
        },
        {
          source: 'payments-service',
          message: 'Payment processing started',
          level: 'info',
          tags: { request_id: 'shop-req-1', order_id: '1', amount: 12.5, currency: 'EUR', card_number: '[REDACTED]' },
        },
        // A failed payment: the 5xx in payments and the business warning in orders, still one request id.
        {
          source: 'orders-service',
          message: 'Order not created: payment failed',
          level: 'warn',
          tags: { request_id: 'shop-req-2', order_id: '2', payment_status: 500 },
        },
        {
          source: 'orders-service',
          message: 'POST /orders answered 502',
          level: 'error',
          tags: {
            request_id: 'shop-req-2',
            method: 'POST',
            route: '/orders',
            path: '/orders',
            status: 502,
            duration_ms: duration,
            user_id: 'u-42',
          },
        },
        {
          source: 'payments-service',
          message: 'Payment processing started',
          level: 'info',
          tags: { request_id: 'shop-req-2', order_id: '2', amount: 3, currency: 'XXX', card_number: '[REDACTED]' },
        },
        {
          source: 'payments-service',
          message: 'POST /payments answered 500',
          level: 'error',
          tags: {
            request_id: 'shop-req-2',
            method: 'POST',
            route: '/payments',
            path: '/payments',
            status: 500,
            duration_ms: duration,
            error_type: 'Error',
          },
        },
        // Permission denied (403) and, without a request id given, a generated one (401).
        {
          source: 'orders-service',
          message: 'GET /admin/orders answered 403 (permission denied)',
          level: 'warn',
          tags: {
            request_id: 'shop-req-3',
            method: 'GET',
            route: '/admin/orders',
            path: '/admin/orders',
            status: 403,
            duration_ms: duration,
            action: 'permission_denied',
          },
        },
        {
          source: 'orders-service',
          message: 'GET /admin/orders answered 401 (authentication failed)',
          level: 'warn',
          tags: {
            request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
            method: 'GET',
            route: '/admin/orders',
            path: '/admin/orders',
            status: 401,
            duration_ms: duration,
            action: 'auth_failed',
          },
        },
      ].sort(byRequest),
    );

    // 9 monitored requests (7 in orders, 2 in payments): counters summing to 9, the duration histograms (aggregated
    // in the services: _bucket{le}/_sum/_count counter increments) counting 9 observations, 3 business samples.
    const stored = () =>
      ctx.db
        .query<{ observations: number; requests: number; business: number }>(
          `SELECT coalesce(sum(value) FILTER (WHERE name = 'http_request_duration_ms_count'), 0)::int AS observations,
                  coalesce(sum(value) FILTER (WHERE name = 'http_requests_total'), 0)::int AS requests,
                  count(*) FILTER (WHERE name NOT LIKE 'http_%')::int AS business
             FROM metrics`,
        )
        .then((r) => r.rows[0]);
    await waitFor(stored, (n) => n.observations === 9 && n.requests === 9 && n.business === 3);
    const { rows } = await ctx.db.query<{
      service: string;
      method: string;
      route: string;
      status: string;
      requests: number;
      observations: number;
      all_buckets: number;
      buckets: number;
    }>(`
      SELECT labels->>'service' AS service, labels->>'method' AS method, labels->>'route' AS route, labels->>'status' AS
        status,
             sum(value) FILTER (WHERE name = 'http_requests_total')::int AS requests,
             sum(value) FILTER (WHERE name = 'http_request_duration_ms_count')::int AS observations,
             sum(value) FILTER (WHERE name = 'http_request_duration_ms_bucket' AND labels->>'le' = '+Inf')::int AS
               all_buckets,
             count(DISTINCT labels->>'le')::int AS buckets
        FROM metrics WHERE name IN ('http_requests_total', 'http_request_duration_ms_count',
          'http_request_duration_ms_bucket')
       GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 2, 4`);
    const row = (service: string, method: string, route: string, status: string, n: number) => ({
      service,
      method,
      route,
      status,
      requests: n,
      observations: n,
      all_buckets: n,
      buckets: 15,
    });
    expect(rows).toEqual([
      row('orders-service', 'GET', '/admin/orders', '401', 1),
      row('orders-service', 'GET', '/admin/orders', '403', 1),
      row('orders-service', 'POST', '/orders', '201', 1),
      row('orders-service', 'POST', '/orders', '502', 1),
      row('orders-service', 'GET', '/orders/:id', '200', 2),
      row('orders-service', 'GET', '/orders/:id', '404', 1),
      row('payments-service', 'POST', '/payments', '201', 1),
      row('payments-service', 'POST', '/payments', '500', 1),
    ]);
    // The Prometheus exposition serves them as a histogram's series (running totals, cumulative buckets).
    const scrape = await vigil.app.inject({
      url: '/api/v1/monitoring/metrics/prometheus',
      headers: { authorization: `Bearer ${ctx.token('user')}` },
    });
    expect(scrape.statusCode).toBe(200);
    const labels = 'method="GET",route="/orders/:id",service="orders-service",status="200"';
    const lines = scrape.body.split('\n');
    expect(lines).toContain(`http_request_duration_ms_count{${labels}} 2`);
    expect(lines).toContain(`http_request_duration_ms_bucket{le="+Inf",${labels}} 2`);
    expect(lines).toContain(`http_request_duration_ms_bucket{le="10000",${labels}} 2`);
    expect(lines.find((l) => l.startsWith(`http_request_duration_ms_sum{${labels}} `))).toMatch(
      / \d+(\.\d+)?(e-?\d+)?$/,
    );
    const business = await ctx.db.query<{ name: string; metric_type: string; value: number; labels: object }>(
      "SELECT name, metric_type, value, labels FROM metrics WHERE name NOT LIKE 'http_%' ORDER BY name",
    );
    expect(business.rows).toEqual([
      { name: 'orders_created_total', metric_type: 'counter', value: 1, labels: { currency: 'EUR' } },
      { name: 'payment_amount', metric_type: 'histogram', value: 12.5, labels: { currency: 'EUR' } },
      { name: 'payments_total', metric_type: 'counter', value: 1, labels: { currency: 'EUR' } },
    ]);
  });
});
