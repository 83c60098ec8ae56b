/**
 * Runs the example shop: orders on :3001, payments on :3002, both reporting to a vigil gateway.
 *
 *   npm start                                                   # vigil on :8080, in another terminal
 *   VIGIL_TOKEN=$(npm run --silent token -- --role user) node --import tsx examples/shop/main.ts
 *   curl -s localhost:3001/orders -H 'content-type: application/json' -H 'x-request-id: demo-1' \
 *     -d '{"item":"book","amount":12.5,"currency":"EUR","card_number":"4111111111111111"}'
 *   curl -s "localhost:8080/api/v1/monitoring/events?limit=5" -H "Authorization: Bearer $VIGIL_TOKEN"
 *
 * An example, so it reads its few settings from the environment itself: VIGIL_URL (default
 * http://127.0.0.1:8080), VIGIL_TOKEN (required), ORDERS_PORT, PAYMENTS_PORT, SHOP_ADMIN_KEY.
 */
import { createClient } from 'vigil/client';
import { buildOrdersApp } from './orders.ts';
import { buildPaymentsApp } from './payments.ts';

const env = process.env;
if (!env.VIGIL_TOKEN) {
  console.error('VIGIL_TOKEN is required: VIGIL_TOKEN=$(npm run --silent token -- --role user)');
  process.exit(2);
}
const gateway = { url: env.VIGIL_URL ?? 'http://127.0.0.1:8080', token: env.VIGIL_TOKEN };
const ordersPort = Number(env.ORDERS_PORT ?? 3001);
const paymentsPort = Number(env.PAYMENTS_PORT ?? 3002);

const ordersVigil = createClient({ source: 'orders-service', gateway });
const paymentsVigil = createClient({ source: 'payments-service', gateway });
const payments = await buildPaymentsApp({ vigil: paymentsVigil });
const orders = await buildOrdersApp({
  vigil: ordersVigil,
  paymentsUrl: `http://127.0.0.1:${paymentsPort}`,
  adminKey: env.SHOP_ADMIN_KEY ?? 'let-me-in',
});
await payments.listen({ port: paymentsPort, host: '127.0.0.1' });
await orders.listen({ port: ordersPort, host: '127.0.0.1' });
console.log(
  `orders on http://127.0.0.1:${ordersPort}, payments on http://127.0.0.1:${paymentsPort}, reporting to ${gateway.url}`,
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await orders.close();
    await payments.close();
    // Flush what is queued (up to 5 s) before exiting.
    const [o, p] = await Promise.all([ordersVigil.close(), paymentsVigil.close()]);
    console.log(
      `sent: orders ${o.events.sent} events / ${o.metrics.sent} samples, payments ${p.events.sent} events / ` +
        `${p.metrics.sent} samples`,
    );
    process.exit(0);
  });
}
