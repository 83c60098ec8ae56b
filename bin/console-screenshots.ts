/**
 * Regenerates the screenshots of docs/console.md: starts vigil in-process on a private database and topics (like
 * the tests), seeds an incident scenario, a rule, events, a metric and a trace, and photographs each page in chromium.
 * Usage: npm run console:screenshots (needs PostgreSQL, the Kafka broker and /usr/bin/chromium).
 */
import path from 'node:path';
import { ROOT_DIR } from '../shared/config.ts';
import { createTestContext } from '../test/helpers/context.ts';
import { launchChromium, listen, seedIncident, seedTrace, signIn } from '../test/helpers/console.ts';

const OUT_DIR = path.join(ROOT_DIR, 'docs', 'console');
const VIEWPORT = { width: 1100, height: 720 };

const ctx = await createTestContext({ ALERTER_TICK_MS: '200' });
const browser = await launchChromium();
try {
  const runtime = await ctx.start('all', { QUERY_FOLD_INTERVAL_SECONDS: '3600' });
  const base = await listen(runtime);
  const moderator = ctx.token('moderator', 'mod-alice');
  const incidentId = await seedIncident(ctx, runtime, moderator);
  const traceId = await seedTrace(runtime, moderator);
  const call = async (method: 'POST' | 'PUT', url: string, payload: object) => {
    const res = await runtime.app.inject({ method, url, payload, headers: { authorization: `Bearer ${moderator}` } });
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
  await call('POST', '/api/v1/monitoring/alerts', {
    name: 'cpu high',
    query: 'cpu_usage > 80',
    severity: 'high',
    for: '0s',
  });
  await call('POST', '/api/v1/monitoring/alerts', {
    name: 'checkout errors',
    query: 'count_over_time(events{level="error", source="api"}[5m]) > 50',
  });
  const now = Date.now();
  const samples = Array.from({ length: 30 }, (_, i) => ({
    name: 'cpu_usage',
    metric_type: 'gauge',
    value: 40 + 30 * Math.sin(i / 4) + (i > 25 ? 40 : 0),
    labels: { host: i % 2 ? 'web-1' : 'web-2' },
    timestamp: now - (30 - i) * 60_000,
  }));
  await call('POST', '/api/v1/monitoring/metrics', { metrics: samples });
  await call('PUT', `/api/v1/monitoring/incidents/${incidentId}`, {
    status: 'investigating',
    assigned_to: 'mod-alice',
  });

  const page = await browser.newPage({ viewport: VIEWPORT });
  const shot = (name: string) => page.screenshot({ path: path.join(OUT_DIR, `${name}.png`) });
  await page.goto(`${base}/console/`);
  await page.getByLabel('Paste your token').fill(moderator);
  await shot('sign-in');
  await signIn(page, base, moderator);
  await page.getByRole('link', { name: 'Checkout failing' }).first().waitFor();
  await shot('incidents');
  await page.goto(`${base}/console/#/incidents/${incidentId}`);
  await page.getByRole('heading', { name: 'Suspects' }).waitFor();
  await page.getByRole('heading', { name: 'Timeline' }).waitFor();
  await shot('incident');
  await page.locator('section[aria-label="analysis"]').scrollIntoViewIfNeeded();
  await page.evaluate(() => document.querySelector('section[aria-label="analysis"]')!.scrollIntoView());
  await shot('incident-analysis');
  await page.goto(`${base}/console/#/alerts`);
  await page.getByText('New rule').click();
  await page.getByLabel('Query').fill('rate(http_requests_total[5m) > 3');
  await page.getByText('Query: ', { exact: false }).first().waitFor();
  await page.getByRole('button', { name: 'cpu high' }).click();
  await page.getByText('firing').first().waitFor({ timeout: 30_000 });
  await shot('alerts');
  await page.goto(`${base}/console/#/events`);
  await page.getByLabel('Source').fill('api');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('button', { name: 'POST /checkout 500' }).first().click();
  await shot('events');
  await page.goto(`${base}/console/#/metrics`);
  await page.getByLabel('Name').fill('cpu_usage');
  await page.getByRole('button', { name: 'Draw' }).click();
  await page.locator('.chart canvas').waitFor();
  await shot('metrics');
  await page.goto(`${base}/console/#/traces`);
  await page.locator(`a[href="#/traces/${traceId}"]`).waitFor();
  await shot('traces');
  await page.goto(`${base}/console/#/traces/${traceId}`);
  await page.getByRole('button', { name: /^POST \/charge/ }).click();
  await page.getByText('"payment.provider": "acme-pay"').waitFor();
  await shot('trace');
  await page.goto(`${base}/console/#/stats`);
  await page.getByText('events stored', { exact: true }).waitFor();
  await page.locator('.chart canvas').waitFor({ timeout: 30_000 });
  await shot('stats');
  console.log(`screenshots written to ${path.relative(process.cwd(), OUT_DIR)}/`);
} finally {
  await browser.close();
  await ctx.cleanup();
}
