/**
 * The gateway under abuse: how long its event loop stalls (perf_hooks.monitorEventLoopDelay, measured inside the
 * gateway process) while a load generator in another process mixes
 *   bombs      gzip bodies of ~5 KB that inflate to 5 MB: NDJSON of 2.5M lines, [1,1,…], [{},{},…], {"events":[{},…]}
 *   oversized  a 6 MB identity body (413 on its Content-Length), 6 MB of gzip-inflated spaces (413 once inflated)
 *   deep       an event whose payload nests 100,000 arrays deep, alone and inside a batch
 *   valid      100-event batches (the contract's event shape), answered 202 after Kafka acknowledged them
 * with a fixed number of senders of each kind, for a fixed time. Target: p99 event-loop delay < 50 ms.
 *
 *   node --import tsx bench/abuse.ts [--seconds 20]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startRuntime } from '../bin/runtime.ts';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { benchTopics } from './bench-topics.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const seconds = Number(values.seconds);

const { config: topics, cleanup } = await benchTopics('bench-abuse');
const config = loadConfig({
  ...process.env,
  VIGIL_ROLES: 'gateway',
  PORT: '0',
  LOG_LEVEL: 'warn',
  KAFKA_TOPIC_EVENTS: topics.kafka.topics.events,
  KAFKA_TOPIC_METRICS: topics.kafka.topics.metrics,
  KAFKA_TOPIC_DLQ: topics.kafka.topics.dlq,
});
const runtime = await startRuntime(config, createLogger('warn', 'bench-abuse'));
const base = await runtime.app.listen({ host: '127.0.0.1', port: 0 });
const token = signToken(config.auth, { role: 'user', sub: 'bench-abuse', ttlSeconds: 3600 });

const delay = monitorEventLoopDelay({ resolution: 10 });
const load = loadGenerator(base, token, seconds);
const [ready] = (await once(load.child.stdout!, 'data')) as [Buffer]; // the generator built its bodies
if (ready.toString().trim() !== 'ready') throw new Error(`unexpected generator output ${ready.toString()}`);
const loadBefore = os.loadavg()[0];
const cpuBefore = process.cpuUsage();
const wallBefore = performance.now();
delay.enable();
const report = await load.done;
delay.disable();
const cpu = process.cpuUsage(cpuBefore);
const cpuShare = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);

const ms = (ns: number) => (ns / 1e6).toFixed(1);
console.log(
  `\n${seconds} s, load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0].toFixed(1)} (${os.cpus().length} ` +
    `cores); the gateway used ${(cpuShare * 100).toFixed(0)}% of a core\n`,
);
console.log('| gateway event-loop delay | p50 | p99 | max |');
console.log('|---|---|---|---|');
console.log(
  `| monitorEventLoopDelay (10 ms resolution) | ${ms(delay.percentile(50))} ms | ${ms(delay.percentile(99))} ms | ` +
    `${ms(delay.max)} ms |`,
);
console.log('\n| traffic | senders | requests | answers | p50 latency | p99 latency |');
console.log('|---|---|---|---|---|---|');
for (const row of report) {
  console.log(`| ${row.name} | ${row.senders} | ${row.requests} | ${row.statuses} | ${row.p50} ms | ${row.p99} ms |`);
}
await runtime.stop();
await cleanup();

interface Row {
  name: string;
  senders: number;
  requests: number;
  statuses: string;
  p50: number;
  p99: number;
}

/** The load, from a child process (its own core and event loop): prints "ready", then a JSON report at the end. */
function loadGenerator(url: string, jwt: string, durationSeconds: number) {
  const script = `
    import zlib from 'node:zlib';
    const MB5 = 5 * 1024 * 1024;
    const gz = (text) => zlib.gzipSync(text, { level: 9 });
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    const event = (i) => ({
      event_type: 'log', source: 'web-server-' + (i % 10), message: 'Request processed successfully', level: 'info',
      tags: { service: 'api', environment: 'production', request_id: 'req-' + i },
      payload: { duration_ms: 245, path: '/api/users', status: 200 },
    });
    const json = { 'content-type': 'application/json' };
    const kinds = [
      ['bomb: gzip NDJSON, 2.5M lines', 2,
        { ...json, 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' },
        gz('1\\n'.repeat(MB5 / 2))],
      ['bomb: gzip [1,1,…]', 2, { ...json, 'content-encoding': 'gzip' }, gz('[' + '1,'.repeat(MB5 / 2 - 1) + '1]')],
      ['bomb: gzip [{},{},…]', 2, { ...json, 'content-encoding': 'gzip' }, gz('[' + '{},'.repeat(MB5 / 3 - 1) + '{}]')],
      ['bomb: gzip {"events":[{},…]}', 2, { ...json, 'content-encoding': 'gzip' },
        gz('{"events":[' + '{},'.repeat(MB5 / 3 - 10) + '{}]}')],
      ['oversized: 6 MB identity', 1, json, Buffer.alloc(6 * 1024 * 1024, 0x20)],
      ['oversized: 6 MB once inflated', 1, { ...json, 'content-encoding': 'gzip' },
        gz(Buffer.alloc(6 * 1024 * 1024, 0x20))],
      ['deep: one event 100k levels', 1, json,
        JSON.stringify({ event_type: 'log', source: 'deep', payload: { a: 0 } }).replace('0', deep)],
      ['deep: batch item 100k levels', 1, json,
        JSON.stringify([{ event_type: 'log', source: 'deep', payload: { a: 0 } }, event(0)]).replace('0}', deep + '}')],
      ['valid: 100-event batches', 4, json, JSON.stringify(Array.from({ length: 100 }, (_, i) => event(i)))],
    ];
    process.stdout.write('ready\\n');
    const until = performance.now() + ${durationSeconds * 1000};
    const report = await Promise.all(kinds.map(async ([name, senders, headers, body]) => {
      const latencies = [];
      const statuses = {};
      await Promise.all(Array.from({ length: senders }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          let status = 0;
          try {
            const authorization = 'Bearer ' + process.env.TOKEN;
            const res = await fetch(process.env.URL, { method: 'POST', body, headers: { ...headers, authorization } });
            await res.arrayBuffer();
            status = res.status;
          } catch {}
          latencies.push(performance.now() - t0);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }));
      latencies.sort((a, b) => a - b);
      const at = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]);
      const answers = Object.entries(statuses).map(([s, n]) => n + '× ' + s).join(', ');
      return { name, senders, requests: latencies.length, statuses: answers, p50: at(0.5), p99: at(0.99) };
    }));
    process.stdout.write(JSON.stringify(report));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, URL: `${url}/api/v1/monitoring/events`, TOKEN: jwt },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const done = (async () => {
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    const [code] = (await once(child, 'exit')) as [number];
    if (code !== 0) throw new Error(`the load generator exited with ${code}`);
    return JSON.parse(out.slice(out.indexOf('\n') + 1)) as Row[];
  })();
  return { child, done };
}
