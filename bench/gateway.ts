/**
 * Ingest throughput: events/s and latency of POST /api/v1/monitoring/events with batches of 1, 100 and 1000 events,
 * the vigil gateway (Kafka acks=all included, on the local broker) side by side with a bare Fastify route that only
 * parses the same JSON and answers 202 (the ceiling). Each server is a child process; for each batch size, rounds
 * alternate (bare, gateway, bare, gateway, …) so that drift of the shared machine hits both alike, and the median
 * round of each is reported. Then the gateway runs at half of its measured saturation rate (100-event batches) to
 * report latency under a sustainable load.
 *
 *   node --import tsx bench/gateway.ts [--rounds 3] [--seconds 10] [--sizes 1,100,1000]
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { contractEvent } from './bench-topics.ts';
import { NODE_FLAGS } from '../bin/node-flags.ts';
import { autocannon, fmt, medianBy } from './cannon.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    sizes: { type: 'string', default: '1,100,1000' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const sizes = values.sizes!.split(',').map(Number);
// Enough requests in flight to saturate a server without queueing whole seconds of work in front of it.
const CONNECTIONS: Record<number, number> = { 1: 64, 100: 16, 1000: 4 };

type Mode = 'bare' | 'gateway';
interface Round {
  eventsPerSecond: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  failed: number;
}

const token = signToken(loadConfig(process.env).auth, { role: 'user', sub: 'bench', ttlSeconds: 3600 });
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const servers: Record<Mode, { child: ChildProcess; port: number }> = {
  bare: await spawn('bare'),
  gateway: await spawn('gateway'),
};
const table: string[] = [];
let halfLoad: Round | null = null;
let halfRate = 0;

for (const size of sizes) {
  const body = batchBody(size);
  const results: Record<Mode, Round[]> = { bare: [], gateway: [] };
  console.error(`batch ${size}: ${body.length} bytes per request, ${CONNECTIONS[size] ?? 8} connections; warming up…`);
  for (const mode of ['bare', 'gateway'] as const) await load(mode, body, size, Math.min(3, seconds));
  for (let r = 1; r <= rounds; r++) {
    for (const mode of ['bare', 'gateway'] as const) {
      const round = await load(mode, body, size, seconds);
      results[mode].push(round);
      console.error(
        `  round ${r} ${mode.padEnd(7)} ${round.eventsPerSecond.toFixed(0)} events/s ` +
          `(${round.requestsPerSecond.toFixed(0)} req/s), p50 ${round.p50} ms, p99 ${round.p99} ms` +
          `${round.failed ? `, ${round.failed} failed` : ''}`,
      );
    }
  }
  const bare = median(results.bare);
  const gateway = median(results.gateway);
  const ratio = ((gateway.eventsPerSecond / bare.eventsPerSecond) * 100).toFixed(0);
  table.push(
    `| ${size} | bare Fastify (parse only) | ${fmt(bare.eventsPerSecond)} | ${fmt(bare.requestsPerSecond)} | ` +
      `${bare.p50} ms | ${bare.p99} ms | |`,
  );
  table.push(
    `| ${size} | vigil gateway (acks=all) | ${fmt(gateway.eventsPerSecond)} | ${fmt(gateway.requestsPerSecond)} | ` +
      `${gateway.p50} ms | ${gateway.p99} ms | ${ratio}% |`,
  );
  if (size === 100) {
    halfRate = Math.max(1, Math.round(gateway.requestsPerSecond / 2));
    console.error(`batch 100 at half of the gateway's saturation: ${halfRate} req/s…`);
    halfLoad = await load('gateway', body, size, seconds, halfRate);
  }
}
for (const { child } of Object.values(servers)) child.disconnect();

console.log(
  `\nPOST /api/v1/monitoring/events, ${rounds} alternating rounds of ${seconds} s per batch size, median round:\n`,
);
console.log('| events per request | server | events/s | requests/s | p50 latency | p99 latency | gateway / bare |');
console.log('|---|---|---|---|---|---|---|');
for (const line of table) console.log(line);
if (halfLoad) {
  console.log(
    `\nAt half of the gateway's saturation (100-event batches, ${halfRate} req/s = ${fmt(halfRate * 100)} events/s): ` +
      `p50 ${halfLoad.p50} ms, p99 ${halfLoad.p99} ms, ${fmt(halfLoad.eventsPerSecond)} events/s served.`,
  );
}
console.log(
  `\nmachine: ${os.cpus().length} × ${os.cpus()[0].model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ` +
    `${process.version}; Kafka broker, load generator and servers share it.`,
);

/** The contract's event shape, varied over 10 sources, as one object (size 1) or a JSON array. */
function batchBody(size: number): string {
  const events = Array.from({ length: size }, (_, i) => contractEvent(i));
  return JSON.stringify(size === 1 ? events[0] : events);
}

async function spawn(mode: Mode): Promise<{ child: ChildProcess; port: number }> {
  // Both servers with vigil's Node flags, as `npm start` runs the gateway.
  const child = fork(new URL('./gateway-server.ts', import.meta.url), [mode], {
    execArgv: [...NODE_FLAGS, '--import', 'tsx'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  return { child, port };
}

async function load(mode: Mode, body: string, size: number, duration: number, overallRate?: number): Promise<Round> {
  const result = await autocannon({
    url: `http://127.0.0.1:${servers[mode].port}/api/v1/monitoring/events`,
    method: 'POST',
    headers,
    body,
    connections: CONNECTIONS[size] ?? 8,
    duration,
    pipelining: 1,
    ...(overallRate ? { overallRate } : {}),
  });
  const ok = result['2xx'];
  return {
    eventsPerSecond: (ok * size) / duration,
    requestsPerSecond: ok / duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors + result.timeouts,
  };
}

function median(list: Round[]): Round {
  return medianBy(list, (r) => r.eventsPerSecond);
}
