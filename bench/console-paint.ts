/**
 * The web console's first meaningful paint on 10M events + 10M metric samples (the query benchmark's database,
 * bench/query-data.ts): vigil's query and alerter roles run in this process on that database (alerter on fresh
 * topics of its own, for the rule routes) and serve real HTTP on 127.0.0.1; Debian's chromium (playwright-core)
 * opens each page in a fresh browser context (cold cache, like a first visit) with the token already in the tab,
 * and the time from the navigation's start to the page's first meaningful content is read from the page's own
 * clock (performance.now(), whose origin is the navigation start) on the first animation frame that shows it:
 *
 *   incidents  a card of the board           events  a row of the table
 *   alerts     a rule of the list            metrics the query form (the page draws nothing until asked)
 *   stats      the per-minute ingest chart's canvas, or its empty state when the data's last hour is over
 *
 * plus two actions timed from just before them to the chart's canvas: "metrics: draw" (Draw for cpu_usage of one
 * instance over 6 h) and the stats chart's 24 h window.
 * A few incidents and rules are created for the board and the list, and deleted at the end.
 *
 *   node --import tsx bench/console-paint.ts          # BENCH_RUNS=7 (default 7 per page), BENCH_PAGES=stats
 */
import type net from 'node:net';
import os from 'node:os';
import type { Browser, Page } from 'playwright-core';
import { startRuntime, type Runtime } from '../bin/runtime.ts';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { launchChromium } from '../test/helpers/console.ts';
import { benchTopics } from './bench-topics.ts';
import { medianBy } from './cannon.ts';
import { BENCH_DATABASE_URL, DEFAULT_SPEC, ensureBenchData } from './query-data.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
/** Only the pages whose name contains this (all by default). */
const ONLY = process.env.BENCH_PAGES ?? '';
const BUDGET_MS = 1000;
const MARKER_TIMEOUT_MS = 30_000;
const SEEDED_INCIDENTS = 24;
const SEED_TITLE = 'console paint bench';

interface Scenario {
  name: string;
  hash: string;
  marker: string;
  /** After the marker: an action whose own duration is measured instead (from just before it). */
  act?: (page: Page) => Promise<void>;
  actMarker?: string;
}

const INGEST = 'section[aria-label="ingest per minute"]';

const SCENARIOS: Scenario[] = [
  { name: 'incidents board', hash: '#/incidents', marker: '.board a.card' },
  { name: 'events explorer', hash: '#/events', marker: 'table.events tbody tr' },
  { name: 'alerts', hash: '#/alerts', marker: 'li.rule' },
  { name: 'metrics (form)', hash: '#/metrics', marker: 'form[aria-label="metric query"]' },
  {
    name: 'metrics: draw cpu_usage{instance}, 6 h',
    hash: '#/metrics',
    marker: 'form[aria-label="metric query"]',
    act: async (page) => {
      await page.getByLabel('Name').fill('cpu_usage');
      await page.getByLabel('Labels').fill('instance=host-07');
      // The data ends when it was loaded: 6 h reaches it for a few hours after the load.
      await page.getByLabel('Range').selectOption('6 h');
      await page.getByRole('button', { name: 'Draw' }).click();
    },
    actMarker: '.chart canvas',
  },
  // The chart of the last hour, or its empty state once the data's newest hour is over an hour old.
  { name: 'stats (figures, ingest chart)', hash: '#/stats', marker: `${INGEST} :is(.chart canvas, p.empty)` },
  {
    name: 'stats: ingest chart, 24 h',
    hash: '#/stats',
    marker: `${INGEST} :is(.chart canvas, p.empty)`,
    act: (page) =>
      page
        .getByLabel('window')
        .selectOption('24 h')
        .then(() => undefined),
    actMarker: `${INGEST} .chart canvas`,
  },
];

/**
 * Watches, in the page, every animation frame from now on for `selector` to match a rendered element, and records
 * performance.now() of the first such frame under `key` on window. Installed before the page's own scripts run, so
 * the figure is the page's, not the time the automation took to look.
 */
// A string, not a function: tsx would wrap a function's inner arrows in a helper the page does not have.
const watchFor = (selector: string, key: string) => `(() => {
  const check = () => {
    const el = document.querySelector(${JSON.stringify(selector)});
    if (el && el.getBoundingClientRect().height > 0) window[${JSON.stringify(key)}] = performance.now();
    else requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();`;

async function seenAt(page: Page, key: string): Promise<number> {
  const handle = await page.waitForFunction((k) => (window as unknown as Record<string, number>)[k], key, {
    timeout: MARKER_TIMEOUT_MS,
  });
  return (await handle.jsonValue()) as number;
}

async function measure(browser: Browser, base: string, token: string, scenario: Scenario) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  await context.addInitScript((t) => sessionStorage.setItem('vigil.token', t), token);
  await context.addInitScript({ content: watchFor(scenario.marker, 'vigilShown') });
  const page = await context.newPage();
  try {
    await page.goto(`${base}/console/${scenario.hash}`, { waitUntil: 'commit' });
    const shown = await seenAt(page, 'vigilShown');
    const timings = () =>
      page.evaluate(() => ({
        fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
        // The shell's first render: the bundle loaded, parsed and run (main.ts marks it).
        shell: performance.getEntriesByName('vigil-console-rendered')[0]?.startTime ?? NaN,
        // The slowest API answer as the browser saw it (request start to last byte).
        api: Math.max(
          0,
          ...performance
            .getEntriesByType('resource')
            .filter((e) => e.name.includes('/api/v1/monitoring/'))
            .map((e) => (e as PerformanceResourceTiming).responseEnd - e.startTime),
        ),
      }));
    if (!scenario.act) return { ms: shown, ...(await timings()) };
    await page.evaluate(watchFor(scenario.actMarker!, 'vigilDrawn'));
    const before = await page.evaluate(() => performance.now());
    await scenario.act(page);
    const drawn =
      (await seenAt(page, 'vigilDrawn').catch(async (error: Error) => {
        const said = await page
          .locator('main')
          // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText(), the text as shown
          .innerText()
          .catch(() => '');
        throw new Error(`${scenario.name}: ${error.message}; the page said: ${said.slice(0, 500)}`);
      })) - before;
    return { ms: drawn, ...(await timings()) };
  } finally {
    await context.close();
  }
}

async function seed(runtime: Runtime, token: string): Promise<void> {
  const call = async (url: string, payload: object) => {
    const headers = { authorization: `Bearer ${token}` };
    const res = await runtime.app.inject({ method: 'POST', url, payload, headers });
    if (res.statusCode !== 201) throw new Error(`POST ${url}: ${res.statusCode} ${res.body}`);
  };
  const severities = ['low', 'medium', 'high', 'critical'];
  for (let i = 0; i < SEEDED_INCIDENTS; i++) {
    const title = `${SEED_TITLE} ${i}`;
    await call('/api/v1/monitoring/incidents', { title, severity: severities[i % 4], sources: ['api-gateway'] });
  }
  await call('/api/v1/monitoring/alerts', { name: `${SEED_TITLE}: cpu`, query: 'cpu_usage > 95' });
  await call('/api/v1/monitoring/alerts', { name: `${SEED_TITLE}: queue`, query: 'queue_depth > 1000' });
}

async function unseed(runtime: Runtime): Promise<void> {
  await runtime.pool.query('DELETE FROM incidents WHERE title LIKE $1', [`${SEED_TITLE}%`]);
  await runtime.pool.query('DELETE FROM alert_rules WHERE name LIKE $1', [`${SEED_TITLE}%`]);
}

const meta = await ensureBenchData(DEFAULT_SPEC);
const topics = await benchTopics('console-paint');
const config = loadConfig({
  ...process.env,
  DATABASE_URL: BENCH_DATABASE_URL,
  VIGIL_ROLES: 'query,alerter',
  LOG_LEVEL: 'warn',
  QUERY_FOLD_INTERVAL_SECONDS: '3600',
  KAFKA_TOPIC_EVENTS: topics.config.kafka.topics.events,
  KAFKA_TOPIC_METRICS: topics.config.kafka.topics.metrics,
  KAFKA_TOPIC_DLQ: topics.config.kafka.topics.dlq,
  ALERTER_GROUP_ID: `bench-console-paint-${process.pid}`,
});
const runtime = await startRuntime(config, createLogger('warn'));
let browser: Browser | undefined;
try {
  await runtime.app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(runtime.app.server.address() as net.AddressInfo).port}`;
  const token = signToken(config.auth, { role: 'moderator', sub: 'bench', ttlSeconds: 3600 });
  await unseed(runtime);
  await seed(runtime, token);
  browser = await launchChromium();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');
  console.error(`[bench] ${RUNS} runs per page (the first a warm-up of the server, not counted); load ${load}`);
  const rows: string[] = [];
  for (const scenario of SCENARIOS.filter((sc) => sc.name.includes(ONLY))) {
    await measure(browser, base, token, scenario);
    const runs: Awaited<ReturnType<typeof measure>>[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(browser, base, token, scenario));
    const ms = medianBy(runs, (r) => r.ms).ms;
    const max = Math.max(...runs.map((r) => r.ms));
    const p50 = (key: 'fcp' | 'shell' | 'api') => medianBy(runs, (r) => r[key])[key].toFixed(0);
    const verdict = max < BUDGET_MS ? 'yes' : 'NO';
    rows.push(
      `| ${scenario.name} | \`${scenario.actMarker ?? scenario.marker}\` | ${RUNS} | ${p50('fcp')} | ` +
        `${p50('shell')} | ${p50('api')} | ${ms.toFixed(0)} | ${max.toFixed(0)} | ${verdict} |`,
    );
    console.error(`[bench] ${rows[rows.length - 1]}`);
  }
  const data = `${meta.events.toLocaleString('en')} events, ${meta.metricSamples.toLocaleString('en')} metric samples`;
  const cpus = os.cpus();
  console.log(
    `Run on ${new Date().toISOString().slice(0, 10)} (load average ${load} at the start); machine: ` +
      `${cpus.length} × ${cpus[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, ` +
      `Node ${process.version}; data: ${data}.\n`,
  );
  const head = '| page | first meaningful content | n | FCP p50 ms | shell p50 ms | slowest API p50 ms |';
  console.log(`${head} p50 ms | max ms | max < 1 s |`);
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
} finally {
  await browser?.close();
  await unseed(runtime).catch(() => undefined);
  await runtime.stop();
  await topics.cleanup();
}
