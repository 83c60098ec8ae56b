/**
 * Query API latency on 10M events + 10M metric samples (10,000 series): the query role runs in this process on the
 * benchmark database (bench/query-data.ts loads it once with COPY), serves real HTTP on 127.0.0.1, and each
 * scenario is requested sequentially (one request in flight: latency, not throughput), after a warm-up, with
 * p50/p99/max per scenario. Times are relative to the newest generated row ("last hour" = the hour before it).
 *
 *   node --import tsx bench/query.ts                 # prints a markdown table for bench/README.md
 *   BENCH_ITERATIONS=50 node --import tsx bench/query.ts
 */
import os from 'node:os';
import { BENCH_DATABASE_URL, DEFAULT_SPEC, ensureBenchData, startFoldedQueryRole } from './query-data.ts';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 200);
const HOUR = 3_600_000;

interface Scenario {
  name: string;
  target: string;
  /** Returns the path+query of the next request (may differ per iteration). */
  url: (i: number) => string;
  iterations?: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const meta = await ensureBenchData(DEFAULT_SPEC);
const { runtime, origin: base, token } = await startFoldedQueryRole(BENCH_DATABASE_URL, 'moderator');

const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
const lastHour = `start_time=${iso(meta.anchorMs - HOUR)}&end_time=${iso(meta.anchorMs)}`;
const lastDay = `start_time=${iso(meta.anchorMs - 24 * HOUR)}&end_time=${iso(meta.anchorMs)}`;
const sources = ['api-gateway', 'auth-service', 'payment-service', 'svc-05', 'svc-21', 'svc-39'];
const source = (i: number) => sources[i % sources.length];

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text() };
}

// Ids for lookups: recent events, fetched once.
const sample = JSON.parse((await get(`/api/v1/monitoring/events?limit=1000&${lastDay}`)).body).data as { id: string }[];
const knownIds = sample.map((e) => e.id);

async function cursorAt(depth: number, filters: string): Promise<string> {
  let cursor = '';
  for (let page = 0; page < depth; page++) {
    const body = JSON.parse(
      (await get(`/api/v1/monitoring/events?${filters}&limit=100${cursor ? `&cursor=${cursor}` : ''}`)).body,
    );
    cursor = body.next_cursor;
  }
  return cursor;
}
const deepCursor = await cursorAt(100, 'tag.environment=production');

const scenarios: Scenario[] = [
  { name: 'events: newest 100, no filter', target: '< 50 ms', url: () => '/api/v1/monitoring/events' },
  {
    name: 'events: source, last hour',
    target: '< 50 ms',
    url: (i) => `/api/v1/monitoring/events?source=${source(i)}&${lastHour}`,
  },
  {
    name: 'events: source + level=error, last 24 h',
    target: '< 50 ms',
    url: (i) => `/api/v1/monitoring/events?source=${source(i)}&level=error&${lastDay}`,
  },
  {
    name: 'events: event_type=alert, no time range',
    target: '< 50 ms',
    url: () => '/api/v1/monitoring/events?event_type=alert',
  },
  {
    name: 'events: tag.environment=staging, last hour',
    target: '< 50 ms',
    url: () => `/api/v1/monitoring/events?tag.environment=staging&${lastHour}`,
  },
  {
    name: 'events: tag.service + tag.region, last 24 h',
    target: '< 50 ms',
    url: (i) => `/api/v1/monitoring/events?tag.service=${source(i)}&tag.region=us-east-1&${lastDay}`,
  },
  {
    name: 'events: message_contains, last hour',
    target: '< 50 ms',
    url: () => `/api/v1/monitoring/events?message_contains=pool%20exhausted&${lastHour}`,
  },
  {
    name: 'events: rare tag.user_id over 24 h (no tag index)',
    target: '(none)',
    url: (i) => `/api/v1/monitoring/events?tag.user_id=u${10_000 + i}&${lastDay}`,
    iterations: 10,
  },
  {
    name: 'events: page 101 via cursor (tag.environment=production)',
    target: '< 50 ms',
    url: () => `/api/v1/monitoring/events?tag.environment=production&limit=100&cursor=${deepCursor}`,
  },
  {
    name: "events: offset=10000 (the contract's offset paging, capped)",
    target: '(contrast)',
    url: () => '/api/v1/monitoring/events?tag.environment=production&limit=100&offset=10000',
    iterations: 30,
  },
  {
    name: 'events/{id}: known id',
    target: '< 50 ms',
    url: (i) => `/api/v1/monitoring/events/${knownIds[i % knownIds.length]}`,
  },
  {
    name: 'events/{id}: unknown id (404)',
    target: '< 50 ms',
    url: () => `/api/v1/monitoring/events/${crypto.randomUUID()}`,
  },
  {
    name: 'metrics: samples of one series, last hour',
    target: '< 50 ms',
    url: (i) =>
      `/api/v1/monitoring/metrics?name=cpu_usage&label.instance=host-` +
      `${String(i % 100).padStart(2, '0')}&label.cpu=03&${lastHour}`,
  },
  {
    name: 'metrics: cpu_usage avg step=1m, 1 host (10 series), last hour',
    target: '< 50 ms',
    url: (i) =>
      `/api/v1/monitoring/metrics?name=cpu_usage&label.instance=host-` +
      `${String(i % 100).padStart(2, '0')}&step=1m&agg=avg&${lastHour}`,
  },
  {
    name: 'metrics: http_requests_total rate step=5m, 1 endpoint, last 6 h',
    target: '< 50 ms',
    url: () =>
      '/api/v1/monitoring/metrics?name=http_requests_total&label.endpoint=%2Fapi%2Fusers%2Fv1&step=5m&agg=rate' +
      `&start_time=${iso(meta.anchorMs - 6 * HOUR)}&end_time=${iso(meta.anchorMs)}`,
  },
  {
    name: 'metrics: http_request_duration_seconds p95 step=1h, 24 h (1000 series, 100 per page)',
    target: '(none)',
    url: () => `/api/v1/monitoring/metrics?name=http_request_duration_seconds&step=1h&agg=p95&${lastDay}`,
    iterations: 20,
  },
  { name: 'stats', target: '< 20 ms', url: () => '/api/v1/monitoring/stats', iterations: 50 },
  {
    name: 'Prometheus scrape (10,000 series)',
    target: '< 1 s',
    url: () => '/api/v1/monitoring/metrics/prometheus',
    iterations: 30,
  },
];

const results: { name: string; target: string; n: number; p50: number; p99: number; max: number; rows: string }[] = [];
for (const scenario of scenarios) {
  const n = Math.min(scenario.iterations ?? ITERATIONS, ITERATIONS);
  const warm = Math.max(2, Math.floor(n / 10));
  const times: number[] = [];
  let rows = '';
  for (let i = 0; i < warm + n; i++) {
    const started = performance.now();
    const { status, body } = await get(scenario.url(i));
    const ms = performance.now() - started;
    if (status !== 200 && !(status === 404 && scenario.name.includes('404')))
      throw new Error(`${scenario.name}: ${status} ${body.slice(0, 300)}`);
    if (i >= warm) times.push(ms);
    if (i === warm) {
      rows = body.startsWith('{')
        ? `${JSON.parse(body).data?.length ?? 1} rows`
        : `${(body.length / 1e6).toFixed(1)} MB, ${body.split('\n').length.toLocaleString('en')} lines`;
    }
  }
  times.sort((a, b) => a - b);
  const r = {
    name: scenario.name,
    target: scenario.target,
    n,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: times[times.length - 1],
    rows,
  };
  results.push(r);
  console.error(`[bench] ${r.name}: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (${r.rows})`);
}
await runtime.stop();

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
console.log(
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, Node ` +
    `${process.version}; data: ${meta.events.toLocaleString('en')} events, ` +
    `${meta.metricSamples.toLocaleString('en')} metric samples (${meta.series.toLocaleString('en')} series) over 7 ` +
    `days, daily partitions.\n`,
);
console.log('| scenario | answer | n | p50 ms | p99 ms | max ms | target |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results)
  console.log(`| ${r.name} | ${r.rows} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.target} |`);
