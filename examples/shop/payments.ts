/**
 * The payments service of the example shop: process_payment, instrumented. The plugin measures every
 * request and logs failures; the handler adds the business events, correlated by the request id the orders
 * service passed along. The card number in the tags never leaves the process (redacted by the client).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { genReqId, vigilFastify, type VigilClient } from 'vigil/client';

export interface PaymentsDeps {
  vigil: VigilClient;
}

interface PaymentRequest {
  order_id: string;
  amount: number;
  currency: string;
  card_number: string;
}

export async function buildPaymentsApp({ vigil }: PaymentsDeps): Promise<FastifyInstance> {
  const app = Fastify({ genReqId });
  await app.register(vigilFastify, { client: vigil });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.post<{ Body: PaymentRequest }>('/payments', async (request, reply) => {
    const { order_id, amount, currency, card_number } = request.body;
    const logger = request.vigil.logger;
    logger.info('Payment processing started', { order_id, amount, currency, card_number });
    // The example's stand-in for a card processor that fails on an unknown currency.
    if (!['EUR', 'USD', 'GBP'].includes(currency)) throw new Error(`card processor refused currency ${currency}`);
    vigil.metric.counter('payments_total', 1, { currency });
    vigil.metric.histogram('payment_amount', amount, { currency });
    logger.info('Payment completed successfully', { order_id, payment_id: `pay_${order_id}` });
    return reply.status(201).send({ payment_id: `pay_${order_id}`, status: 'captured' });
  });

  return app;
}
