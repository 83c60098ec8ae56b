/**
 * PromQL query_range latency of dashboard panels over the query benchmark's data (bench/query-data.ts: 10M metric
 * samples, 10,000 series over 7 days, i.e. about 143 samples per series per day): the query role runs in this
 * process on the benchmark database, folds the series state first (as the running role does), serves real HTTP on
 * 127.0.0.1, and each panel is requested sequentially after a warm-up; p50/p99/max per panel.
 *
 *   node --import tsx bench/promql.ts                 # prints a markdown table for bench/README.md
 *   BENCH_ITERATIONS=50 node --import tsx bench/promql.ts
 */
import os from 'node:os';
import type net from 'node:net';
import { startRuntime } from '../bin/runtime.ts';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import type { QueryHandle } from '../services/query/index.ts';
import { BENCH_DATABASE_URL, DEFAULT_SPEC, ensureBenchData } from './query-data.ts';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 30);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const meta = await ensureBenchData(DEFAULT_SPEC);
const config = loadConfig({
  DATABASE_URL: BENCH_DATABASE_URL,
  VIGIL_ROLES: 'query',
  LOG_LEVEL: 'warn',
  QUERY_FOLD_INTERVAL_SECONDS: '3600',
  DATABASE_POOL_MAX: '4',
});
const runtime = await startRuntime(config, createLogger('warn'));
const query = runtime.roles.find((r) => r.name === 'query') as QueryHandle;
const foldStarted = Date.now();
const fold = await query.fold.foldNow();
console.error(`[bench] fold caught up in ${Date.now() - foldStarted} ms: ${JSON.stringify(fold)}`);
await runtime.app.listen({ host: '127.0.0.1', port: 0 });
const base = `http://127.0.0.1:${(runtime.app.server.address() as net.AddressInfo).port}/prometheus/api/v1`;
const token = signToken(config.auth, { role: 'user', sub: 'bench', ttlSeconds: 3600 });

const end = Math.floor(meta.anchorMs / 60_000) * 60;
const range = (hours: number, stepSeconds: number) => `start=${end - hours * 3600}&end=${end}&step=${stepSeconds}`;
const panels: { name: string; query: string; params: string }[] = [
  {
    name: '24 h, 1000 series aggregated: avg by (instance) (cpu_usage), step 60 s',
    query: 'avg by (instance) (cpu_usage)',
    params: range(24, 60),
  },
  { name: '24 h, 1000 series returned: cpu_usage, step 5 m', query: 'cpu_usage', params: range(24, 300) },
  {
    name: '24 h, counters: sum by (queue) (rate(jobs_processed_total[1h])), step 5 m',
    query: 'sum by (queue) (rate(jobs_processed_total[1h]))',
    params: range(24, 300),
  },
  {
    name:
      '6 h, histogram: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1h]))), ' +
      'step 5 m',
    query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1h])))',
    params: range(6, 300),
  },
];

const results: { name: string; n: number; p50: number; p99: number; max: number; answer: string }[] = [];
for (const panel of panels) {
  const warm = Math.max(2, Math.floor(ITERATIONS / 10));
  const times: number[] = [];
  let answer = '';
  for (let i = 0; i < warm + ITERATIONS; i++) {
    const started = performance.now();
    const res = await fetch(`${base}/query_range?query=${encodeURIComponent(panel.query)}&${panel.params}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = await res.text();
    const ms = performance.now() - started;
    if (res.status !== 200) throw new Error(`${panel.name}: ${res.status} ${body.slice(0, 300)}`);
    if (i >= warm) times.push(ms);
    if (i === warm) {
      const result = JSON.parse(body).data.result as { values: unknown[] }[];
      const points = result.reduce((n, s) => n + s.values.length, 0);
      answer = `${result.length} series, ${points.toLocaleString('en')} points`;
    }
  }
  times.sort((a, b) => a - b);
  const r = {
    name: panel.name,
    n: ITERATIONS,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    max: times[times.length - 1],
    answer,
  };
  results.push(r);
  console.error(`[bench] ${r.name}: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (${r.answer})`);
}
await runtime.stop();

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
console.log(
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, Node ` +
    `${process.version}; data: ${meta.metricSamples.toLocaleString('en')} metric samples ` +
    `(${meta.series.toLocaleString('en')} series) over 7 days.\n`,
);
console.log('| panel (query_range) | answer | n | p50 ms | p99 ms | max ms |');
console.log('|---|---|---|---|---|---|');
for (const r of results)
  console.log(`| ${r.name} | ${r.answer} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} |`);
