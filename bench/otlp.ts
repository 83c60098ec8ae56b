/**
 * OTLP ingest throughput against vigil's own JSON path, in one run on one gateway (a child process, acks=all on the
 * local broker): log records/s and metric points/s for the same items sent as
 *   vigil JSON   POST /api/v1/monitoring/events | /metrics (a JSON array)
 *   OTLP proto   POST /v1/logs | /v1/metrics, application/x-protobuf (what the SDKs' proto exporters send)
 *   OTLP JSON    POST /v1/logs | /v1/metrics, application/json
 * The items are alike: 100 per request over 10 services (sources / resources), a log record with three attributes
 * and a trace and span id, a gauge point with two attributes (→ job, method, route labels). Rounds alternate between
 * the three forms so that drift of the shared machine hits all alike; the median round of each is reported, with
 * the OTLP forms as a share of the JSON path (target ≥ 80%).
 *
 *   node --import tsx bench/otlp.ts [--rounds 3] [--seconds 10] [--items 100]
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { signalTypes } from '../services/gateway/otlp/proto.ts';
import { NODE_FLAGS } from '../bin/node-flags.ts';
import { autocannon, fmt, medianBy } from './cannon.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    items: { type: 'string', default: '100' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const items = Number(values.items);
const CONNECTIONS = 16;
const SERVICES = 10;

type Form = 'vigil JSON' | 'OTLP proto' | 'OTLP JSON';
const FORMS: Form[] = ['vigil JSON', 'OTLP proto', 'OTLP JSON'];
interface Round {
  itemsPerSecond: number;
  p50: number;
  p99: number;
  failed: number;
}

const nowMs = Date.now();
const nowNs = String(BigInt(nowMs) * 1_000_000n);
const traceId = '5b8efff798038103d269b633813fc60c';
const spanId = 'eee19b7ec3c1b174';
const str = (value: string) => ({ stringValue: value });
const byService = <T>(make: (service: number, i: number) => T): T[][] => {
  const groups: T[][] = Array.from({ length: SERVICES }, () => []);
  for (let i = 0; i < items; i++) groups[i % SERVICES].push(make(i % SERVICES, i));
  return groups;
};

const logs = {
  json: JSON.stringify(
    Array.from({ length: items }, (_, i) => ({
      event_type: 'log',
      source: `web-server-${i % SERVICES}`,
      message: 'Request processed successfully',
      level: 'info',
      tags: { service: 'api', environment: 'production', request_id: `req-${i}`, trace_id: traceId, span_id: spanId },
      timestamp: nowMs,
    })),
  ),
  otlp: {
    resourceLogs: byService((_s, i) => ({
      timeUnixNano: nowNs,
      severityNumber: 9,
      body: str('Request processed successfully'),
      attributes: [
        { key: 'service', value: str('api') },
        { key: 'environment', value: str('production') },
        { key: 'request_id', value: str(`req-${i}`) },
      ],
      traceId,
      spanId,
    })).map((records, s) => ({
      resource: { attributes: [{ key: 'service.name', value: str(`web-server-${s}`) }] },
      scopeLogs: [{ logRecords: records }],
    })),
  },
};

const metrics = {
  json: JSON.stringify(
    Array.from({ length: items }, (_, i) => ({
      name: 'http_server_active_requests',
      metric_type: 'gauge',
      value: i,
      labels: { job: `web-server-${i % SERVICES}`, method: 'GET', route: `/api/r${i}` },
      timestamp: nowMs,
    })),
  ),
  otlp: {
    resourceMetrics: byService((_s, i) => ({
      timeUnixNano: nowNs,
      asDouble: i,
      attributes: [
        { key: 'method', value: str('GET') },
        { key: 'route', value: str(`/api/r${i}`) },
      ],
    })).map((points, s) => ({
      resource: { attributes: [{ key: 'service.name', value: str(`web-server-${s}`) }] },
      scopeMetrics: [{ metrics: [{ name: 'http.server.active_requests', gauge: { dataPoints: points } }] }],
    })),
  },
};

function protobuf(signal: 'logs' | 'metrics', json: object): Buffer {
  const { request } = signalTypes(signal);
  // fromObject takes bytes as base64; OTLP JSON's hex ids are what the gateway converts, so convert them here.
  const text = JSON.stringify(json, (key, value) =>
    key === 'traceId' || key === 'spanId' ? Buffer.from(value, 'hex').toString('base64') : value,
  );
  return Buffer.from(request.encode(request.fromObject(JSON.parse(text))).finish());
}

const token = signToken(loadConfig(process.env).auth, { role: 'user', sub: 'bench', ttlSeconds: 3600 });
const server = await spawn();
const bodies: Record<'logs' | 'metrics', Record<Form, { path: string; type: string; body: string | Buffer }>> = {
  logs: {
    'vigil JSON': { path: '/api/v1/monitoring/events', type: 'application/json', body: logs.json },
    'OTLP proto': { path: '/v1/logs', type: 'application/x-protobuf', body: protobuf('logs', logs.otlp) },
    'OTLP JSON': { path: '/v1/logs', type: 'application/json', body: JSON.stringify(logs.otlp) },
  },
  metrics: {
    'vigil JSON': { path: '/api/v1/monitoring/metrics', type: 'application/json', body: metrics.json },
    'OTLP proto': { path: '/v1/metrics', type: 'application/x-protobuf', body: protobuf('metrics', metrics.otlp) },
    'OTLP JSON': { path: '/v1/metrics', type: 'application/json', body: JSON.stringify(metrics.otlp) },
  },
};

const table: string[] = [];
for (const signal of ['logs', 'metrics'] as const) {
  const results: Record<Form, Round[]> = { 'vigil JSON': [], 'OTLP proto': [], 'OTLP JSON': [] };
  console.error(`${signal}: ${items} items per request, ${CONNECTIONS} connections; warming up…`);
  for (const form of FORMS) await load(bodies[signal][form], Math.min(3, seconds));
  for (let r = 1; r <= rounds; r++) {
    for (const form of FORMS) {
      const round = await load(bodies[signal][form], seconds);
      results[form].push(round);
      console.error(
        `  round ${r} ${form.padEnd(10)} ${round.itemsPerSecond.toFixed(0)} items/s, ` +
          `p50 ${round.p50} ms, p99 ${round.p99} ms${round.failed ? `, ${round.failed} failed` : ''}`,
      );
    }
  }
  const base = median(results['vigil JSON']);
  for (const form of FORMS) {
    const m = median(results[form]);
    const share = form === 'vigil JSON' ? '' : `${((m.itemsPerSecond / base.itemsPerSecond) * 100).toFixed(0)}%`;
    const body = bodies[signal][form].body;
    table.push(
      `| ${signal === 'logs' ? 'log records' : 'metric points'} | ${form} | ${Buffer.byteLength(body)} | ` +
        `${fmt(m.itemsPerSecond)} | ${m.p50} ms | ${m.p99} ms | ${share} |`,
    );
  }
}
server.disconnect();

console.log(
  `\n${items} items per request, ${CONNECTIONS} connections, ` +
    `${rounds} alternating rounds of ${seconds} s, median round:\n`,
);
console.log('| items | form | bytes per request | items/s | p50 latency | p99 latency | share of vigil JSON |');
console.log('|---|---|---|---|---|---|---|');
for (const line of table) console.log(line);
console.log(
  `\nmachine: ${os.cpus().length} × ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version}; Kafka broker, load generator and gateway share it.`,
);

async function spawn(): Promise<ChildProcess & { port: number }> {
  const child = fork(new URL('./gateway-server.ts', import.meta.url), ['gateway'], {
    execArgv: [...NODE_FLAGS, '--import', 'tsx'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
  });
  return Object.assign(child, { port });
}

async function load(target: { path: string; type: string; body: string | Buffer }, duration: number): Promise<Round> {
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}${target.path}`,
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': target.type },
    body: target.body,
    connections: CONNECTIONS,
    duration,
  });
  const ok = result['2xx'];
  return {
    itemsPerSecond: (ok * items) / duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors + result.timeouts,
  };
}

function median(list: Round[]): Round {
  return medianBy(list, (r) => r.itemsPerSecond);
}
