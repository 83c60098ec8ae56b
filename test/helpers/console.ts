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
import type { TestContext } from './context.ts';

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
