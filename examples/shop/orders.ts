/**
 * The orders service of the example shop. It calls the payments service with the request's X-Request-Id
 * (request.vigil.headers()), so one order's events in both services share tags.request_id. Its routes cover what
 * the plugin does: a business route, a route-pattern lookup, failed auth (401/403), a 5xx, a health check and a
 * static file (the last two are not monitored).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { genReqId, vigilFastify, type VigilClient } from 'vigil/client';

export interface OrdersDeps {
  vigil: VigilClient;
  paymentsUrl: string;
  adminKey: string;
}

interface OrderRequest {
  item: string;
  amount: number;
  currency: string;
  card_number: string;
}

export async function buildOrdersApp({ vigil, paymentsUrl, adminKey }: OrdersDeps): Promise<FastifyInstance> {
  const app = Fastify({ genReqId });
  await app.register(vigilFastify, {
    client: vigil,
    userId: (request) => request.headers['x-user-id'] as string | undefined,
  });
  const orders = new Map<string, Omit<OrderRequest, 'card_number'> & { id: string; payment_id: string }>();

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/static/app.js', async (_request, reply) => reply.type('text/javascript').send('console.log("shop")'));

  app.post<{ Body: OrderRequest }>('/orders', async (request, reply) => {
    const id = String(orders.size + 1);
    const { card_number, ...order } = request.body;
    const payment = await fetch(`${paymentsUrl}/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...request.vigil.headers() },
      body: JSON.stringify({ order_id: id, amount: order.amount, currency: order.currency, card_number }),
    });
    if (payment.status !== 201) {
      request.vigil.logger.warn('Order not created: payment failed', { order_id: id, payment_status: payment.status });
      return reply.status(502).send({ error: 'payment failed' });
    }
    const { payment_id } = (await payment.json()) as { payment_id: string };
    orders.set(id, { id, ...order, payment_id });
    vigil.metric.counter('orders_created_total', 1, { currency: order.currency });
    request.vigil.logger.info('Order created', { order_id: id, item: order.item, payment_id });
    return reply.status(201).send({ id, payment_id });
  });

  app.get<{ Params: { id: string } }>('/orders/:id', async (request, reply) => {
    const order = orders.get(request.params.id);
    if (!order) return reply.status(404).send({ error: 'no such order' });
    return order;
  });

  app.get('/admin/orders', async (request, reply) => {
    const key = request.headers['x-admin-key'];
    if (key === undefined) return reply.status(401).send({ error: 'x-admin-key required' });
    if (key !== adminKey) return reply.status(403).send({ error: 'wrong admin key' });
    return { count: orders.size };
  });

  return app;
}
