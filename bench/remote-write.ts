/**
 * Prometheus remote_write throughput against vigil's own JSON path, in one run on one gateway (a child process,
 * acks=all on the local broker): samples/s for the same samples sent as
 *   vigil JSON     POST /api/v1/monitoring/metrics (a JSON array of samples)
 *   remote_write   POST /api/v1/write (snappy-compressed protobuf WriteRequest, what Prometheus sends)
 * The samples are alike: one per series, as Prometheus batches a scrape, a `_total` counter with job, instance,
 * method and code labels (remote-write adds __name__). Rounds alternate between the two forms so that drift of the
 * shared machine hits both alike; the median round of each is reported, with remote_write as a share of JSON.
 *
 *   node --import tsx bench/remote-write.ts [--rounds 3] [--seconds 10] [--samples 500]
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { NODE_FLAGS } from '../bin/node-flags.ts';
import { REMOTE_WRITE_HEADERS, remoteWriteBody } from '../services/gateway/remote-write/encode.ts';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { autocannon, fmt, medianBy } from './cannon.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    samples: { type: 'string', default: '500' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const samples = Number(values.samples);
const CONNECTIONS = 16;

type Form = 'vigil JSON' | 'remote_write';
const FORMS: Form[] = ['vigil JSON', 'remote_write'];
interface Round {
  samplesPerSecond: number;
  p50: number;
  p99: number;
  failed: number;
}

const nowMs = Date.now();
const series = Array.from({ length: samples }, (_, i) => ({
  labels: {
    job: 'api',
    instance: `10.0.${i % 16}.1:9100`,
    method: i % 2 ? 'GET' : 'POST',
    code: String(200 + (i % 50)),
  },
  value: 1000 + i,
}));
const targets: Record<Form, { path: string; headers: Record<string, string>; body: string | Buffer }> = {
  'vigil JSON': {
    path: '/api/v1/monitoring/metrics',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      series.map((s) => ({
        name: 'http_requests_total',
        metric_type: 'gauge',
        value: s.value,
        labels: s.labels,
        timestamp: nowMs,
      })),
    ),
  },
  remote_write: {
    path: '/api/v1/write',
    headers: REMOTE_WRITE_HEADERS,
    body: remoteWriteBody({
      timeseries: series.map((s) => ({
        labels: { __name__: 'http_requests_total', ...s.labels },
        samples: [{ value: s.value, timestamp: nowMs }],
      })),
    }),
  },
};

const token = signToken(loadConfig(process.env).auth, { role: 'user', sub: 'bench', ttlSeconds: 3600 });
const server = await spawn();
const results: Record<Form, Round[]> = { 'vigil JSON': [], remote_write: [] };
console.error(`${samples} samples per request, ${CONNECTIONS} connections; warming up…`);
for (const form of FORMS) await load(targets[form], Math.min(3, seconds));
for (let r = 1; r <= rounds; r++) {
  for (const form of FORMS) {
    const round = await load(targets[form], seconds);
    results[form].push(round);
    console.error(
      `  round ${r} ${form.padEnd(12)} ${round.samplesPerSecond.toFixed(0)} samples/s, ` +
        `p50 ${round.p50} ms, p99 ${round.p99} ms${round.failed ? `, ${round.failed} failed` : ''}`,
    );
  }
}
server.disconnect();

const base = median(results['vigil JSON']);
console.log(
  `\n${samples} samples per request, ${CONNECTIONS} connections, ` +
    `${rounds} alternating rounds of ${seconds} s, median round:\n`,
);
console.log('| form | bytes per request | samples/s | p50 latency | p99 latency | share of vigil JSON |');
console.log('|---|---|---|---|---|---|');
for (const form of FORMS) {
  const m = median(results[form]);
  const share = form === 'vigil JSON' ? '' : `${((m.samplesPerSecond / base.samplesPerSecond) * 100).toFixed(0)}%`;
  console.log(
    `| ${form} | ${Buffer.byteLength(targets[form].body)} | ${fmt(m.samplesPerSecond)} | ` +
      `${m.p50} ms | ${m.p99} ms | ${share} |`,
  );
}
console.log(
  `\nmachine: ${os.cpus().length} × ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version}, load ${os.loadavg()[0].toFixed(1)}; Kafka broker, load generator and gateway share it.`,
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

async function load(
  target: { path: string; headers: Record<string, string>; body: string | Buffer },
  duration: number,
): Promise<Round> {
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}${target.path}`,
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...target.headers },
    body: target.body,
    connections: CONNECTIONS,
    duration,
  });
  return {
    samplesPerSecond: (result['2xx'] * samples) / duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors + result.timeouts,
  };
}

function median(list: Round[]): Round {
  return medianBy(list, (r) => r.samplesPerSecond);
}
