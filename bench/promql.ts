/**
 * PromQL query_range latency of dashboard panels over two data sets, one after the other:
 *   query   the query benchmark's data (bench/query-data.ts: 10M metric samples, 10,000 series over 7 days, about
 *           143 samples per series per day)
 *   panel   the dashboard data set (bench/promql-data.ts: 1,000 gauges and 736 counters sampled every 15 s for 24 h,
 *           ~10M samples): a 24 h panel over 1,000 series reads 5.76M samples
 * For each, the query role runs in this process on the benchmark database, folds the series state first (as the
 * running role does), serves real HTTP on 127.0.0.1, and each panel is requested sequentially after a warm-up;
 * p50/p99/max per panel. A panel answered with an error is reported with its status.
 *
 *   node --import tsx bench/promql.ts                 # prints a markdown table for bench/README.md
 *   BENCH_ITERATIONS=50 BENCH_PROMQL_SETS=panel node --import tsx bench/promql.ts
 *   QUERY_HOUR_CACHE_MB=0 node --import tsx bench/promql.ts   # no hour cache: every request as the first one
 * The query role keeps decoded hour rows between requests (QUERY_HOUR_CACHE_MB): after the warm-up a panel's
 * requests read only the current hour's minutes and the unfolded tail from PostgreSQL, as a dashboard's refreshes do.
 */
import os from 'node:os';
import { ensurePromqlBenchData, PROMQL_BENCH_DATABASE_URL } from './promql-data.ts';
import { BENCH_DATABASE_URL, DEFAULT_SPEC, ensureBenchData, startFoldedQueryRole } from './query-data.ts';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 30);
const SETS = (process.env.BENCH_PROMQL_SETS ?? 'query,panel').split(',');
/** Only the panels whose name contains this text (e.g. BENCH_PANEL='24 h, 1000 series at 15 s aggregated'). */
const PANEL = process.env.BENCH_PANEL ?? '';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface Panel {
  name: string;
  query: string;
  hours: number;
  stepSeconds: number;
}

interface DataSet {
  name: string;
  url: string;
  load(): Promise<{ anchorMs: number; describe: string }>;
  panels: Panel[];
}

const DATA_SETS: DataSet[] = [
  {
    name: 'query',
    url: BENCH_DATABASE_URL,
    async load() {
      const meta = await ensureBenchData(DEFAULT_SPEC);
      return {
        anchorMs: meta.anchorMs,
        describe:
          `${meta.metricSamples.toLocaleString('en')} metric samples ` +
          `(${meta.series.toLocaleString('en')} series) over 7 days`,
      };
    },
    panels: [
      {
        name: '24 h, 1000 series aggregated: avg by (instance) (cpu_usage), step 60 s',
        query: 'avg by (instance) (cpu_usage)',
        hours: 24,
        stepSeconds: 60,
      },
      { name: '24 h, 1000 series returned: cpu_usage, step 5 m', query: 'cpu_usage', hours: 24, stepSeconds: 300 },
      {
        name: '24 h, counters: sum by (queue) (rate(jobs_processed_total[1h])), step 5 m',
        query: 'sum by (queue) (rate(jobs_processed_total[1h]))',
        hours: 24,
        stepSeconds: 300,
      },
      {
        name:
          '6 h, histogram: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1h]))), ' +
          'step 5 m',
        query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1h])))',
        hours: 6,
        stepSeconds: 300,
      },
    ],
  },
  {
    name: 'panel',
    url: PROMQL_BENCH_DATABASE_URL,
    async load() {
      const meta = await ensurePromqlBenchData();
      return {
        anchorMs: meta.anchorMs,
        describe:
          `${meta.metricSamples.toLocaleString('en')} metric samples ` +
          `(${meta.series.toLocaleString('en')} series) at 15 s over 24 h`,
      };
    },
    panels: [
      {
        name: '24 h, 1000 series at 15 s aggregated: avg by (instance) (panel_cpu_usage), step 60 s',
        query: 'avg by (instance) (panel_cpu_usage)',
        hours: 24,
        stepSeconds: 60,
      },
      {
        name: '24 h, 1000 series at 15 s returned: panel_cpu_usage, step 5 m',
        query: 'panel_cpu_usage',
        hours: 24,
        stepSeconds: 300,
      },
      {
        name: '6 h, 1000 series at 15 s aggregated: avg by (instance) (panel_cpu_usage), step 60 s',
        query: 'avg by (instance) (panel_cpu_usage)',
        hours: 6,
        stepSeconds: 60,
      },
      {
        name: '1 h, 1000 series at 15 s aggregated: avg by (instance) (panel_cpu_usage), step 15 s',
        query: 'avg by (instance) (panel_cpu_usage)',
        hours: 1,
        stepSeconds: 15,
      },
      {
        name: '1 h, counters at 15 s: sum by (route) (rate(panel_requests_total[5m])), step 15 s',
        query: 'sum by (route) (rate(panel_requests_total[5m]))',
        hours: 1,
        stepSeconds: 15,
      },
    ],
  },
];

interface Result {
  set: string;
  name: string;
  n: number;
  p50: number;
  p99: number;
  max: number;
  answer: string;
}

async function measure(base: string, token: string, end: number, panel: Panel): Promise<Result | string> {
  const params = `start=${end - panel.hours * 3600}&end=${end}&step=${panel.stepSeconds}`;
  const warm = Math.max(2, Math.floor(ITERATIONS / 10));
  const times: number[] = [];
  let answer = '';
  for (let i = 0; i < warm + ITERATIONS; i++) {
    const started = performance.now();
    const res = await fetch(`${base}/query_range?query=${encodeURIComponent(panel.query)}&${params}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = await res.text();
    const ms = performance.now() - started;
    if (res.status !== 200) return `${res.status}: ${body.slice(0, 200)}`;
    if (i >= warm) times.push(ms);
    if (i === warm) {
      const result = JSON.parse(body).data.result as { values: unknown[] }[];
      const points = result.reduce((n, s) => n + s.values.length, 0);
      answer = `${result.length} series, ${points.toLocaleString('en')} points`;
    }
  }
  times.sort((a, b) => a - b);
  return {
    set: '',
    name: panel.name,
    n: ITERATIONS,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: times[times.length - 1],
    answer,
  };
}

const results: (Result | { set: string; name: string; error: string })[] = [];
const described: string[] = [];
for (const set of DATA_SETS.filter((d) => SETS.includes(d.name))) {
  const meta = await set.load();
  described.push(`${set.name}: ${meta.describe}`);
  const { runtime, origin, token } = await startFoldedQueryRole(set.url, 'user', set.name);
  const base = `${origin}/prometheus/api/v1`;
  const end = Math.floor(meta.anchorMs / 60_000) * 60;
  for (const panel of set.panels.filter((p) => p.name.includes(PANEL))) {
    const r = await measure(base, token, end, panel);
    if (typeof r === 'string') {
      results.push({ set: set.name, name: panel.name, error: r });
      console.error(`[bench] ${panel.name}: ${r}`);
    } else {
      results.push({ ...r, set: set.name });
      console.error(`[bench] ${r.name}: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (${r.answer})`);
    }
  }
  await runtime.stop();
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const loadAverage = os
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
console.log(
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, ` +
    `Node ${process.version}, load average ${loadAverage}; data: ${described.join('; ')}.\n`,
);
console.log('| data | panel (query_range) | answer | n | p50 ms | p99 ms | max ms |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results) {
  if ('error' in r) console.log(`| ${r.set} | ${r.name} | ${r.error.replace(/\|/g, '/')} | | | | |`);
  else console.log(`| ${r.set} | ${r.name} | ${r.answer} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} |`);
}
