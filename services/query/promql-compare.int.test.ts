/**
 * The Prometheus-compatible query API answers like a real Prometheus server over the same samples: the samples
 * are stored in vigil (counters as increments, histograms as observations) and, as Prometheus would have scraped
 * them (counters as running totals, histograms as cumulative _bucket{le}/_count/_sum), written to an OpenMetrics
 * file that `promtool tsdb create-blocks-from openmetrics` turns into blocks for a `prometheus` started on them.
 * Every query of the table is asked of both, as a range query and as instant queries, and the answers must hold
 * the same series with values equal within 1e-9 (relative). Then promtool's own client is pointed at vigil.
 * Skipped, saying why, only when the binaries are not installed (.ci/run installs them).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples, type TestSample } from '../../test/helpers/rows.ts';
import { formatValue } from './exposition.ts';
import type { QueryHandle } from './index.ts';
import { BUCKET_BOUNDS } from './series-fold.ts';

const hasBinary = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
const installed = hasBinary('prometheus') && hasBinary('promtool');
if (!installed) {
  console.warn(
    'SKIPPED promql-compare.int.test.ts: `prometheus`/`promtool` not installed (apt-get install -y prometheus)',
  );
}

const STEP_MS = 15_000;
const POINTS = 241; // one hour of 15 s samples

/** The queries asked of both servers (each as a range query and at two instants). */
export const QUERIES = [
  'cpu_usage',
  'cpu_usage{host="a"}',
  'cpu_usage{host=~"a|b"}',
  'cpu_usage{host!="a"}',
  'cpu_usage{dc!~"y"}',
  '{__name__="cpu_usage", dc="x"}',
  'cpu_usage offset 5m',
  'http_requests_total',
  'rate(http_requests_total[5m])',
  'rate(http_requests_total[1m])',
  'irate(http_requests_total[5m])',
  'increase(http_requests_total[10m])',
  'delta(cpu_usage[5m])',
  'idelta(cpu_usage[2m])',
  'sum(rate(http_requests_total[5m])) by (method)',
  'sum without (code) (rate(http_requests_total[5m]))',
  'avg(cpu_usage) by (dc)',
  'max(cpu_usage)',
  'min by (dc) (cpu_usage)',
  'count(cpu_usage)',
  'stddev(cpu_usage)',
  'stdvar by (dc) (cpu_usage)',
  'topk(2, cpu_usage)',
  'bottomk(1, cpu_usage) by (dc)',
  'quantile(0.9, cpu_usage)',
  'group by (dc) (cpu_usage)',
  'avg_over_time(cpu_usage[5m])',
  'max_over_time(cpu_usage[10m])',
  'min_over_time(cpu_usage[10m])',
  'sum_over_time(cpu_usage[3m])',
  'count_over_time(cpu_usage[5m])',
  'last_over_time(temp[10m])',
  'stddev_over_time(cpu_usage[5m])',
  'stdvar_over_time(cpu_usage[5m])',
  'quantile_over_time(0.5, cpu_usage[5m])',
  'present_over_time(temp[2m])',
  'changes(cpu_usage[5m])',
  'resets(http_requests_total[10m])',
  // 0.87, not 0.9: at 0.9 the rank lands exactly on a bucket's count, where 1e-16 of rounding picks the bucket.
  'histogram_quantile(0.87, rate(req_seconds_bucket[5m]))',
  'histogram_quantile(0.5, sum by (le) (rate(req_seconds_bucket[5m])))',
  'rate(req_seconds_sum[5m]) / rate(req_seconds_count[5m])',
  'req_seconds_count',
  'rate(req_seconds_bucket[5m])',
  'cpu_usage * 2 + 1',
  'cpu_usage > 50',
  'cpu_usage > bool 50',
  '50 < cpu_usage',
  '100 - cpu_usage',
  '-cpu_usage',
  'cpu_usage / on(host) group_left(team) host_info',
  'rate(http_requests_total{code="500"}[5m]) / ignoring(code) rate(http_requests_total{code="200"}[5m])',
  'rate(http_requests_total[5m]) / on(method) group_left sum by (method) (rate(http_requests_total[5m]))',
  'cpu_usage == on(host) group_left cpu_usage',
  'cpu_usage and cpu_usage{host="a"}',
  'cpu_usage unless cpu_usage{host="a"}',
  'cpu_usage{host="a"} or temp',
  'absent(nonexistent{job="x"})',
  'absent(cpu_usage)',
  'absent_over_time(temp[1m])',
  'vector(1)',
  'time()',
  'scalar(sum(cpu_usage))',
  'clamp(cpu_usage, 30, 60)',
  'clamp_min(cpu_usage, 50)',
  'clamp_max(cpu_usage, 50)',
  'label_replace(cpu_usage, "h", "host-$1", "host", "(.*)")',
  'temp',
  'abs(delta(cpu_usage[5m]))',
  'round(cpu_usage, 0.5)',
  'sqrt(cpu_usage) + ln(cpu_usage) - log2(cpu_usage) * log10(cpu_usage)',
  'ceil(cpu_usage) - floor(cpu_usage)',
  'sum(http_requests_total offset 10m) by (code)',
  'sum(rate(http_requests_total[5m])) by (method) > 0.5',
  '2 ^ 3 ^ 2',
  '1 + 1',
  '(cpu_usage + 1) % 7',
];

interface Series {
  metric: Record<string, string>;
  values?: [number, string][];
  value?: [number, string];
}

function samplesOf(t0: number): { vigil: TestSample[]; openmetrics: string } {
  const vigil: TestSample[] = [];
  const om = new Map<string, string[]>(); // family → lines
  const line = (name: string, labels: Record<string, string>, value: number, t: number) => {
    const text = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    if (!om.has(name)) om.set(name, [`# TYPE ${name} gauge`]);
    om.get(name)!.push(`${name}{${text}} ${formatValue(value)} ${(t / 1000).toFixed(3)}`);
  };
  const hosts = [
    { host: 'a', dc: 'x', team: 'red' },
    { host: 'b', dc: 'x', team: 'blue' },
    { host: 'c', dc: 'y', team: 'red' },
  ];
  const counters = new Map<string, number>();
  const buckets = new Map<string, { counts: number[]; n: number; sum: number }>();
  for (let i = 0; i < POINTS; i++) {
    const t = t0 + i * STEP_MS;
    hosts.forEach(({ host, dc }, h) => {
      const value = Math.round((50 + 30 * Math.sin(i / 7 + h * 2)) * 1000) / 1000;
      vigil.push({ timestamp: t, name: 'cpu_usage', metric_type: 'gauge', value, labels: { host, dc } });
      line('cpu_usage', { host, dc }, value, t);
    });
    for (const [k, method] of ['GET', 'POST'].entries()) {
      for (const [c, code] of ['200', '500'].entries()) {
        if (code === '500' && method === 'POST' && i % 4 !== 0) continue;
        const increment = ((i * 7 + k * 3 + c) % 5) + (c === 1 ? 0.25 : 0);
        const key = `${method}${code}`;
        const total = (counters.get(key) ?? 0) + increment;
        counters.set(key, total);
        vigil.push({
          timestamp: t,
          name: 'http_requests_total',
          metric_type: 'counter',
          value: increment,
          labels: { method, code },
        });
        line('http_requests_total', { method, code }, total, t);
      }
    }
    if (i < 100 || i > 160) {
      vigil.push({
        timestamp: t,
        name: 'temp',
        metric_type: 'gauge',
        value: 20 + (i % 9) / 4,
        labels: { sensor: 's1' },
      });
      line('temp', { sensor: 's1' }, 20 + (i % 9) / 4, t);
    }
    if (i % 2 === 0) {
      for (const [r, route] of ['a', 'b'].entries()) {
        const state = buckets.get(route) ?? { counts: BUCKET_BOUNDS.map(() => 0), n: 0, sum: 0 };
        buckets.set(route, state);
        for (const o of [0, 1]) {
          const value = [0.003, 0.02, 0.07, 0.3, 0.8, 1.7, 4, 12, 0.15, 0.6, 0.04][(i + r * 5 + o * 3) % 11];
          vigil.push({ timestamp: t, name: 'req_seconds', metric_type: 'histogram', value, labels: { route } });
          state.n++;
          state.sum += value;
          BUCKET_BOUNDS.forEach((bound, b) => (state.counts[b] += value <= bound ? 1 : 0));
        }
        BUCKET_BOUNDS.forEach((bound, b) =>
          line('req_seconds_bucket', { route, le: formatValue(bound) }, state.counts[b], t),
        );
        line('req_seconds_bucket', { route, le: '+Inf' }, state.n, t);
        line('req_seconds_count', { route }, state.n, t);
        line('req_seconds_sum', { route }, state.sum, t);
      }
    }
    if (i % 8 === 0) {
      for (const { host, team } of hosts) {
        vigil.push({ timestamp: t, name: 'host_info', metric_type: 'gauge', value: 1, labels: { host, team } });
        line('host_info', { host, team }, 1, t);
      }
    }
  }
  const openmetrics = [...om.values()].map((lines) => lines.join('\n')).join('\n') + '\n# EOF\n';
  return { vigil, openmetrics };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const key = (metric: Record<string, string>) =>
  JSON.stringify(Object.entries(metric).sort(([a], [b]) => (a < b ? -1 : 1)));

function close(a: string, b: string): boolean {
  const [x, y] = [Number(a), Number(b)];
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y);
  if (x === y) return true;
  return Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
}

/** The differences between two answers' data (empty: the same series and values). */
function differences(
  ours: { resultType: string; result: unknown },
  theirs: { resultType: string; result: unknown },
): string[] {
  if (ours.resultType !== theirs.resultType) return [`resultType ${ours.resultType} vs ${theirs.resultType}`];
  if (ours.resultType === 'scalar') {
    const [[ta, va], [tb, vb]] = [ours.result as [number, string], theirs.result as [number, string]];
    return ta === tb && close(va, vb) ? [] : [`scalar ${ta},${va} vs ${tb},${vb}`];
  }
  const a = new Map((ours.result as Series[]).map((s) => [key(s.metric), s]));
  const b = new Map((theirs.result as Series[]).map((s) => [key(s.metric), s]));
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const [sa, sb] = [a.get(k), b.get(k)];
    if (!sa || !sb) {
      out.push(`series ${k} only in ${sa ? 'vigil' : 'prometheus'}`);
      continue;
    }
    const pa = sa.values ?? [sa.value!];
    const pb = sb.values ?? [sb.value!];
    if (pa.length !== pb.length) {
      out.push(
        `series ${k}: ${pa.length} points vs ${pb.length}: ${JSON.stringify(pa.slice(0, 3))} vs ` +
          `${JSON.stringify(pb.slice(0, 3))}`,
      );
      continue;
    }
    pa.forEach(([t, v], i) => {
      if (t !== pb[i][0] || !close(v, pb[i][1])) out.push(`series ${k} at ${t}: ${v} vs ${pb[i][0]} ${pb[i][1]}`);
    });
  }
  return out.slice(0, 5);
}

describe.skipIf(!installed)('PromQL answers like Prometheus over the same samples', () => {
  let ctx: TestContext;
  let api: Runtime;
  let prometheus: ChildProcess | undefined;
  let dir: string;
  let promUrl: string;
  let vigilUrl: string;
  let token: string;
  let t0: number;

  const ask = async (base: string, pathAndQuery: string, auth: boolean) => {
    const res = await fetch(`${base}${pathAndQuery}`, { headers: auth ? { authorization: `Bearer ${token}` } : {} });
    return {
      status: res.status,
      body: (await res.json()) as { status: string; data: { resultType: string; result: unknown } },
    };
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query', { QUERY_FOLD_INTERVAL_SECONDS: '3600' });
    token = ctx.token('user', 'grafana');
    t0 = Math.floor((Date.now() - 3 * 3_600_000) / 3_600_000) * 3_600_000;
    const { vigil, openmetrics } = samplesOf(t0);
    // Half the samples folded (read from metric_minutes at whole-minute steps), half in the unfolded tail.
    const half = Math.floor(vigil.length / 2);
    for (let i = 0; i < half; i += 5000) await insertSamples(ctx.db, vigil.slice(i, Math.min(i + 5000, half)));
    const fold = await (api.roles.find((r) => r.name === 'query') as QueryHandle).fold.foldNow();
    expect(fold).toMatchObject({ folded: true });
    for (let i = half; i < vigil.length; i += 5000) await insertSamples(ctx.db, vigil.slice(i, i + 5000));
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    vigilUrl = `http://127.0.0.1:${(api.app.server.address() as net.AddressInfo).port}/prometheus`;

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-promql-'));
    fs.writeFileSync(path.join(dir, 'samples.om'), openmetrics);
    const created = spawnSync(
      'promtool',
      ['tsdb', 'create-blocks-from', 'openmetrics', path.join(dir, 'samples.om'), path.join(dir, 'data')],
      { encoding: 'utf8' },
    );
    expect(created.status, `${created.stdout}${created.stderr}`).toBe(0);
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), 'global: { scrape_interval: 1m }\n');
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        '--storage.tsdb.retention.time=30d',
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    prometheus.stderr!.on('data', (chunk) => (log += chunk));
    await waitFor(
      async () => {
        try {
          const res = await fetch(`${promUrl}/api/v1/query?query=count(cpu_usage)&time=${(t0 + 1_800_000) / 1000}`);
          return (await res.text()) + log.slice(-300);
        } catch {
          return `starting ${log.slice(-300)}`;
        }
      },
      (text) => text.includes('"value":['),
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    await ctx?.cleanup();
  });

  it(`has a table of at least 40 queries`, () => {
    expect(QUERIES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(QUERIES)("%s: range and instant answers equal Prometheus'", async (query) => {
    const q = encodeURIComponent(query);
    const start = (t0 + 6 * 60_000) / 1000;
    const end = (t0 + 64 * 60_000) / 1000;
    const requests = [
      `/api/v1/query_range?query=${q}&start=${start}&end=${end}&step=60`,
      `/api/v1/query_range?query=${q}&start=${start + 7}&end=${end}&step=45s`,
      `/api/v1/query?query=${q}&time=${(t0 + 30 * 60_000 + 7_000) / 1000}`,
      `/api/v1/query?query=${q}&time=${(t0 + 32 * 60_000) / 1000}`,
    ];
    for (const request of requests) {
      const [ours, theirs] = await Promise.all([ask(vigilUrl, request, true), ask(promUrl, request, false)]);
      expect(theirs.status, JSON.stringify(theirs.body)).toBe(200);
      expect({ request, status: ours.status }).toEqual({ request, status: 200 });
      expect({ request, differences: differences(ours.body.data, theirs.body.data) }).toEqual({
        request,
        differences: [],
      });
    }
  });

  /** promtool's output against vigil (token as the URL's Basic-auth password) and against Prometheus. */
  const promtool = async (args: string[], server: 'vigil' | 'prometheus') => {
    const url = server === 'vigil' ? vigilUrl.replace('http://', `http://promtool:${token}@`) : promUrl;
    const [command, ...rest] = args;
    // Asynchronously: vigil answers from this very process.
    const child = spawn('promtool', ['query', command, ...rest.map((a) => a.replace('{server}', url))], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    return { status, stdout, stderr };
  };

  it.each([
    ['instant', ['instant', `--time=${'{t}'}`, '{server}', 'cpu_usage{host=~"a|c"}']],
    [
      'instant, aggregated',
      ['instant', `--time=${'{t}'}`, '{server}', 'sum by (method) (rate(http_requests_total[5m]))'],
    ],
    ['range', ['range', '--start={s}', '--end={e}', '--step=5m', '{server}', 'avg_over_time(cpu_usage[5m])']],
    [
      'series',
      [
        'series',
        '--match=http_requests_total',
        '--match=host_info{team="red"}',
        '--start={s}',
        '--end={e}',
        '{server}',
      ],
    ],
    ['labels', ['labels', '--start={s}', '--end={e}', '{server}', 'host']],
  ])('promtool query %s prints the same against vigil as against Prometheus', async (_name, args) => {
    const times = (a: string) =>
      a
        .replace('{t}', String((t0 + 30 * 60_000) / 1000))
        .replace('{s}', String((t0 + 10 * 60_000) / 1000))
        .replace('{e}', String((t0 + 40 * 60_000) / 1000));
    const concrete = (args as string[]).map(times);
    const ours = await promtool(concrete, 'vigil');
    const theirs = await promtool(concrete, 'prometheus');
    expect(theirs.status, theirs.stderr).toBe(0);
    expect(theirs.stdout.trim()).not.toBe('');
    const sortLines = (text: string) => text.trim().split('\n').sort().join('\n');
    expect({ status: ours.status, stderr: ours.stderr, stdout: sortLines(ours.stdout) }).toEqual({
      status: 0,
      stderr: '',
      stdout: sortLines(theirs.stdout),
    });
  });
});
