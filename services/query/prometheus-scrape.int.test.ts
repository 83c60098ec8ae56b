/**
 * A real Prometheus server (Debian's `prometheus` package; .ci/run installs it) scrapes the exposition with a
 * bearer token, and its query API must return the values vigil exposed; `promtool check metrics` must find nothing
 * wrong but the contract's own counter name (monitoring_total_events has no _total suffix). Skipped, saying why, only
 * when the binaries are not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples } from '../../test/helpers/rows.ts';

const hasBinary = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
const installed = hasBinary('prometheus') && hasBinary('promtool');
if (!installed) {
  console.warn(
    'SKIPPED prometheus-scrape.int.test.ts: `prometheus`/`promtool` not installed (apt-get install -y prometheus; ' +
      '.ci/run does it)',
  );
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.skipIf(!installed)('Prometheus scrapes the exposition', () => {
  let ctx: TestContext;
  let api: Runtime;
  let prometheus: ChildProcess | undefined;
  let dir: string;
  let promUrl: string;
  let exposition: string;
  let token: string;

  const query = async (promql: string): Promise<Record<string, string>> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as {
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    return Object.fromEntries(body.data.result.map((r) => [JSON.stringify(r.metric), r.value[1]]));
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query', { QUERY_FOLD_INTERVAL_SECONDS: '3600' });
    token = ctx.token('moderator', 'prometheus'); // the monitoring_* series need moderator (like /stats)
    const now = Date.now();
    await insertSamples(ctx.db, [
      {
        timestamp: now - 120_000,
        name: 'http_requests_total',
        metric_type: 'counter',
        value: 1,
        labels: { method: 'GET', path: '/a "quoted"\\path' },
      },
      {
        timestamp: now - 60_000,
        name: 'http_requests_total',
        metric_type: 'counter',
        value: 4,
        labels: { method: 'GET', path: '/a "quoted"\\path' },
      },
      {
        timestamp: now - 60_000,
        name: 'http_requests_total',
        metric_type: 'counter',
        value: 2,
        labels: { method: 'POST', path: '/b' },
      },
      { timestamp: now - 90_000, name: 'cpu_usage', metric_type: 'gauge', value: 71.5, labels: { host: 'a\nb' } },
      { timestamp: now - 30_000, name: 'cpu_usage', metric_type: 'gauge', value: 42.25, labels: { host: 'a\nb' } },
      {
        timestamp: now - 30_000,
        name: 'request_duration_seconds',
        metric_type: 'histogram',
        value: 0.2,
        labels: { route: 'x' },
      },
      {
        timestamp: now - 30_000,
        name: 'request_duration_seconds',
        metric_type: 'histogram',
        value: 3,
        labels: { route: 'x' },
      },
      { timestamp: now - 30_000, name: 'db_query_seconds', metric_type: 'summary', value: 2, labels: { q: 'select' } },
      { timestamp: now - 20_000, name: 'db_query_seconds', metric_type: 'summary', value: 4, labels: { q: 'select' } },
    ]);
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const vigilPort = (api.app.server.address() as net.AddressInfo).port;
    const res = await api.app.inject({
      method: 'GET',
      url: '/api/v1/monitoring/metrics/prometheus',
      headers: { authorization: `Bearer ${token}` },
    });
    exposition = res.body;

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-prometheus-'));
    fs.writeFileSync(path.join(dir, 'token'), token);
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 1s }',
        'scrape_configs:',
        '  - job_name: vigil',
        '    metrics_path: /api/v1/monitoring/metrics/prometheus',
        '    honor_labels: true',
        `    authorization: { type: Bearer, credentials_file: ${path.join(dir, 'token')} }`,
        `    static_configs: [{ targets: ['127.0.0.1:${vigilPort}'] }]`,
        '',
      ].join('\n'),
    );
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
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
          const targets = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as {
            data: { activeTargets: { health: string; lastError: string }[] };
          };
          return targets.data.activeTargets[0] ?? { health: 'none', lastError: log.slice(-500) };
        } catch {
          return { health: 'starting', lastError: log.slice(-500) };
        }
      },
      (target) => target.health === 'up',
      45_000,
    );
  });

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    await ctx?.cleanup();
  });

  it("reads back the contract's series and the stored ones, escaped labels included", async () => {
    await waitFor(
      () => query('up{job="vigil"}'),
      (r) => Object.values(r)[0] === '1',
    );
    expect(Object.values(await query('monitoring_total_events'))).toEqual(['0']);
    expect(Object.values(await query('monitoring_active_alerts'))).toEqual(['0']);
    const totals = Object.entries(await query('http_requests_total')).map(([labels, value]) => [
      JSON.parse(labels).method,
      JSON.parse(labels).path,
      value,
    ]);
    expect(totals.sort()).toEqual([
      ['GET', '/a "quoted"\\path', '5'],
      ['POST', '/b', '2'],
    ]);
    expect(Object.entries(await query('cpu_usage')).map(([l, v]) => [JSON.parse(l).host, v])).toEqual([
      ['a\nb', '42.25'],
    ]);
    expect(Object.values(await query('request_duration_seconds_bucket{route="x",le="0.25"}'))).toEqual(['1']);
    expect(Object.values(await query('request_duration_seconds_bucket{route="x",le="5"}'))).toEqual(['2']);
    expect(Object.values(await query('request_duration_seconds_count{route="x"}'))).toEqual(['2']);
    expect(Object.values(await query('request_duration_seconds_sum{route="x"}'))).toEqual(['3.2']);
    expect(
      Object.values(await query('histogram_quantile(0.5, request_duration_seconds_bucket{route="x"})')).length,
    ).toBe(1);
    expect(Object.values(await query('db_query_seconds{q="select",quantile="0.5"}'))).toEqual(['3']);
    expect(Object.values(await query('db_query_seconds_count{q="select"}'))).toEqual(['2']);
  });

  it("passes promtool check metrics except for the contract's own counter name", () => {
    const result = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    const problems = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '');
    expect(problems).toEqual(['monitoring_total_events counter metrics should have "_total" suffix']);
  });
});
