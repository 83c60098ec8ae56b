/**
 * Helpers of the console's browser tests and screenshots: vigil in-process listening on a free port, Debian's
 * chromium driven by playwright-core (never a downloaded browser), sign-in, and a seeded incident scenario whose
 * analysis is known (the database fails 20 minutes before the incident, the API 12 minutes before, one request id
 * per failing request in both).
 */
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Runtime } from '../../bin/runtime.ts';
import { insertEventsWithRollups } from './rollup-rows.ts';
import { insertSamples, type TestEvent, type TestSample } from './rows.ts';
import { waitFor, type TestContext } from './context.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';
const MIN = 60_000;

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Listens on a free port of 127.0.0.1; answers the base URL. */
export async function listen(runtime: Runtime): Promise<string> {
  await runtime.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(runtime.app.server.address() as AddressInfo).port}`;
}

export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/console/`);
  await page.getByLabel('Paste your token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Seeds events and samples, then opens the incident through the API as `token`; answers its id. */
const traceIdOf = (requestId: string) => crypto.createHash('md5').update(requestId).digest('hex');

export async function seedIncident(ctx: TestContext, runtime: Runtime, token: string): Promise<string> {
  const start = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
  const events: TestEvent[] = [];
  const samples: TestSample[] = [];
  for (let m = -90; m < 0; m++) {
    const t = start + m * MIN;
    for (const source of ['db', 'api', 'web']) {
      for (let i = 0; i < 3; i++)
        events.push({ timestamp: t + i * 9000, source, level: 'info', message: `${source} ok`, tags: { env: 'prod' } });
    }
    samples.push({
      timestamp: t,
      name: 'db_connections_in_use',
      metric_type: 'gauge',
      value: m < -22 ? 20 + (m % 3) : 100,
      labels: { pool: 'main' },
    });
    if (m >= -20) {
      for (let i = 0; i < 3; i++) {
        const rid = `req-${m + 100}-${i}`;
        events.push({
          timestamp: t + i * 10_000,
          source: 'db',
          level: 'error',
          message: 'connection pool exhausted',
          // As an OTLP log record carries it.
          tags: { env: 'prod', db_host: 'pg-1', request_id: rid, trace_id: traceIdOf(rid) },
        });
        if (m >= -12) {
          events.push({
            timestamp: t + i * 10_000 + 150,
            source: 'api',
            level: 'error',
            message: 'POST /checkout 500',
            tags: { env: 'prod', request_id: rid },
            payload: { status: 500, path: '/checkout' },
          });
        }
      }
    }
  }
  await insertEventsWithRollups(ctx.db, events);
  await insertSamples(ctx.db, samples);
  const created = await runtime.app.inject({
    method: 'POST',
    url: '/api/v1/monitoring/incidents',
    headers: { authorization: `Bearer ${token}` },
    payload: {
      title: 'Checkout failing',
      severity: 'critical',
      sources: ['api'],
      started_at: new Date(start).toISOString(),
    },
  });
  if (created.statusCode !== 201) throw new Error(`incident not created: ${created.statusCode} ${created.body}`);
  return created.json().data.id;
}

const NS_PER_MS = 1_000_000n;
const attribute = (key: string, value: string | number) => ({
  key,
  value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value },
});
const resourceOf = (service: string) => ({ attributes: [attribute('service.name', service)] });

/**
 * Sends a checkout trace through the real path (OTLP JSON to /v1/traces and /v1/logs): GET /checkout (checkout,
 * 120 ms) → SELECT items (checkout) and POST /charge (payments, failed: card declined, with an exception event) →
 * INSERT payment (payments), and a payments log carrying the trace id. Answers the trace id once the query role
 * reads every span and the log back.
 */
export async function seedTrace(runtime: Runtime, token: string): Promise<string> {
  const traceId = crypto.randomBytes(16).toString('hex');
  const ids = {
    root: '00000000000000a1',
    cart: '00000000000000a2',
    charge: '00000000000000a3',
    insert: '00000000000000a4',
  };
  const t0 = BigInt(Date.now() - MIN) * NS_PER_MS;
  const at = (ms: number) => String(t0 + BigInt(ms) * NS_PER_MS);
  type Extra = Record<string, unknown>;
  const span = (spanId: string, parent: string | null, name: string, from: number, to: number, extra: Extra = {}) => ({
    traceId,
    spanId,
    ...(parent ? { parentSpanId: parent } : {}),
    name,
    startTimeUnixNano: at(from),
    endTimeUnixNano: at(to),
    ...extra,
  });
  const post = async (url: string, payload: object) => {
    const res = await runtime.app.inject({
      method: 'POST',
      url,
      payload,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  };
  await post('/v1/traces', {
    resourceSpans: [
      {
        resource: resourceOf('checkout'),
        scopeSpans: [
          {
            spans: [
              span(ids.root, null, 'GET /checkout', 0, 120, {
                kind: 2,
                attributes: [attribute('http.route', '/checkout'), attribute('http.status_code', 502)],
              }),
              span(ids.cart, ids.root, 'SELECT items', 4, 22, {
                kind: 3,
                attributes: [attribute('db.system', 'postgresql')],
              }),
            ],
          },
        ],
      },
      {
        resource: resourceOf('payments'),
        scopeSpans: [
          {
            spans: [
              span(ids.charge, ids.root, 'POST /charge', 30, 110, {
                kind: 2,
                status: { code: 2, message: 'card declined' },
                attributes: [attribute('payment.provider', 'acme-pay')],
                events: [
                  {
                    name: 'exception',
                    timeUnixNano: at(105),
                    attributes: [attribute('exception.message', 'card declined by issuer')],
                  },
                ],
              }),
              span(ids.insert, ids.charge, 'INSERT payment', 40, 60, { kind: 3 }),
            ],
          },
        ],
      },
    ],
  });
  await post('/v1/logs', {
    resourceLogs: [
      {
        resource: resourceOf('payments'),
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: at(108),
                severityNumber: 17,
                body: { stringValue: 'charge refused by acme-pay' },
                traceId,
                spanId: ids.charge,
              },
            ],
          },
        ],
      },
    ],
  });
  await waitFor(
    async () =>
      (
        await runtime.app.inject({
          method: 'GET',
          url: `/api/v1/monitoring/traces/${traceId}`,
          headers: { authorization: `Bearer ${token}` },
        })
      ).json(),
    (body) => body.data?.span_count === 4 && body.data.logs.length === 1 && body.data.spans[0]?.children.length === 2,
  );
  return traceId;
}
