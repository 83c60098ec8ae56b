/**
 * The real sender: Prometheus (the Debian package, `prometheus` on the PATH) in agent mode scrapes a tiny target
 * of this test and remote-writes to vigil with a bearer token. Its samples arrive in PostgreSQL with Prometheus'
 * names, labels and timestamps; an alert rule over a remote-written series fires; and a gateway restart on the same
 * port loses nothing: Prometheus retries what it could not send, so every scrape's value is stored exactly once.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { createTestContext, waitFor, type TestContext } from './helpers/context.ts';

const HAS_PROMETHEUS = spawnSync('prometheus', ['--version']).status === 0;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A scrape target: a counter that counts its own scrapes, and a gauge the test sets. */
function startTarget(): Promise<{
  server: http.Server;
  port: number;
  scrapes: () => number;
  setDepth: (v: number) => void;
}> {
  let scrapes = 0;
  let depth = 1;
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    scrapes++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      [
        '# HELP rw_demo_scrapes_total Scrapes of this target.',
        '# TYPE rw_demo_scrapes_total counter',
        `rw_demo_scrapes_total{path="/metrics"} ${scrapes}`,
        '# HELP rw_demo_queue_depth Items waiting.',
        '# TYPE rw_demo_queue_depth gauge',
        `rw_demo_queue_depth{queue="orders"} ${depth}`,
        '',
      ].join('\n'),
    );
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        port: (server.address() as net.AddressInfo).port,
        scrapes: () => scrapes,
        setDepth: (v) => (depth = v),
      }),
    ),
  );
}

describe.skipIf(!HAS_PROMETHEUS)('Prometheus agent remote-writing to vigil', () => {
  let ctx: TestContext;
  let gateway: Runtime;
  let backend: Runtime;
  let gatewayPort: number;
  let target: Awaited<ReturnType<typeof startTarget>>;
  let prometheus: ChildProcess;
  let prometheusLog = '';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-prometheus-'));

  beforeAll(async () => {
    target = await startTarget();
    ctx = await createTestContext({ ALERTER_TICK_MS: '200' });
    backend = await ctx.start('writer,alerter');
    gateway = await ctx.start('gateway');
    gatewayPort = await freePort();
    await gateway.app.listen({ host: '127.0.0.1', port: gatewayPort });
    const config = [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: demo',
      `    static_configs: [{ targets: ['127.0.0.1:${target.port}'] }]`,
      'remote_write:',
      `  - url: http://127.0.0.1:${gatewayPort}/api/v1/write`,
      '    authorization:',
      `      credentials: ${ctx.token('user', 'prometheus-agent')}`,
      '    queue_config: { batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s }',
      '    metadata_config: { send_interval: 2s }',
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
    prometheus = spawn(
      'prometheus',
      [
        '--enable-feature=agent',
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.agent.path=${path.join(dir, 'wal')}`,
        `--web.listen-address=127.0.0.1:${await freePort()}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (b: Buffer) => (prometheusLog = (prometheusLog + b.toString()).slice(-20_000));
    prometheus.stdout!.on('data', keep);
    prometheus.stderr!.on('data', keep);
  });

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      prometheus.kill('SIGTERM');
      await new Promise((resolve) => prometheus.once('exit', resolve));
    }
    await ctx?.cleanup();
    target?.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const scrapeRows = async () =>
    (
      await ctx.db.query<{
        value: number;
        labels: Record<string, string>;
        metric_type: string;
        created_by: string;
        ms: string;
      }>(
        `SELECT value, labels, metric_type, created_by, (extract(epoch FROM "timestamp") * 1000)::bigint AS ms
       FROM metrics WHERE name = 'rw_demo_scrapes_total' ORDER BY value`,
      )
    ).rows;

  it("stores the scraped samples with Prometheus' names, labels and timestamps", async () => {
    const rows = await waitFor(scrapeRows, (r) => r.length >= 3, 45_000).catch((error) => {
      throw new Error(`${(error as Error).message}\nprometheus log:\n${prometheusLog}`);
    });
    expect(rows[0]).toEqual({
      value: 1,
      labels: { path: '/metrics', job: 'demo', instance: `127.0.0.1:${target.port}` },
      metric_type: 'gauge',
      created_by: 'prometheus-agent',
      ms: expect.any(String),
    });
    // One scrape a second, each stamped with its scrape time: consecutive values ~1 s apart, in order.
    const gap = Number(rows[1].ms) - Number(rows[0].ms);
    expect(gap).toBeGreaterThan(500);
    expect(gap).toBeLessThan(5_000);
    const up = await ctx.db.query("SELECT value, labels FROM metrics WHERE name = 'up' LIMIT 1");
    expect(up.rows[0]).toEqual({ value: 1, labels: { job: 'demo', instance: `127.0.0.1:${target.port}` } });
  }, 60_000);

  it('fires an alert rule over a remote-written series', async () => {
    const created = await backend.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/alerts',
      headers: { authorization: `Bearer ${ctx.token('moderator')}` },
      payload: { name: 'Orders piling up', query: 'rw_demo_queue_depth > 10', severity: 'high' },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().data.id;
    target.setDepth(50);
    const rule = await waitFor(
      async () =>
        (
          await backend.app.inject({
            method: 'GET',
            url: `/api/v1/monitoring/alerts/${id}`,
            headers: { authorization: `Bearer ${ctx.token('user')}` },
          })
        ).json().data,
      (r) => r.state === 'firing',
      30_000,
    );
    expect(rule.active_instances).toEqual([
      expect.objectContaining({
        labels: { queue: 'orders', job: 'demo', instance: `127.0.0.1:${target.port}` },
        state: 'firing',
        value: 50,
      }),
    ]);
  }, 60_000);

  it('loses nothing across a gateway restart on the same port: every scrape stored once', async () => {
    await gateway.stop();
    const scrapesAtStop = target.scrapes();
    await waitFor(
      async () => target.scrapes(),
      (n) => n >= scrapesAtStop + 4,
      20_000,
    );
    gateway = await ctx.start('gateway');
    await gateway.app.listen({ host: '127.0.0.1', port: gatewayPort });
    const after = target.scrapes() + 2;
    const rows = await waitFor(scrapeRows, (r) => r.some((row) => row.value >= after), 45_000);
    const values = rows.map((r) => r.value).filter((v) => v <= after);
    // 1, 2, …, after: no scrape missing (the ones during the outage were retried), none twice.
    expect(values).toEqual(Array.from({ length: after }, (_, i) => i + 1));
    expect(scrapesAtStop).toBeGreaterThan(1);
  }, 90_000);
});
