/**
 * Overhead of the vigil Fastify plugin: requests/s and latency of a hello-world route, bare and instrumented, side
 * by side in one run. Each server runs in its own child process; rounds alternate (bare, plugin, bare, plugin, …)
 * so that drift of a shared machine hits both alike, and the median round of each is reported. The instrumented
 * server sends its metrics to a local sink in this process that only reads and answers 202, so the network and a
 * gateway are not what is measured; the client's stats prove every sample was sent (nothing dropped).
 *
 *   node --import tsx bench/plugin.ts [--rounds 5] [--seconds 10] [--connections 50] [--rate 0] \
 *     [--modes bare,plugin,plugin-identity]
 *
 * --rate N holds every server at N requests/s (below what each can serve) instead of saturating it: CPU per request
 * then compares the same work at the same batching of reads and writes, which a busy shared machine disturbs less.
 *
 * --modes bare,empty-hooks,plugin-no-recording,plugin-no-delivery,plugin breaks the cost down (bench/plugin-server.ts);
 * plugin-observations and empty-hooks-on-response compare with what the plugin did before.
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { ClientStats } from '../client/index.ts';
import { HttpSink } from '../client/testing/http-sink.ts';
import { SERVER_MODES, type ServerMode } from './plugin-modes.ts';
import { autocannon, medianBy } from './cannon.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    rate: { type: 'string', default: '0' },
    modes: { type: 'string', default: 'bare,plugin,plugin-identity' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
/** Requests/s over all connections; 0: as fast as the server answers. */
const rate = Number(values.rate);

type Mode = ServerMode;
const MODES = values.modes.split(',') as Mode[];
for (const mode of MODES)
  if (!SERVER_MODES.includes(mode)) throw new Error(`unknown mode ${mode}; modes: ${SERVER_MODES.join(', ')}`);
if (MODES[0] !== 'bare') throw new Error('the first mode must be bare: the others are compared with it');
interface Round {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  /** Server process CPU per request, µs: robust to other load on a shared machine, unlike requests/s. */
  cpuPerRequest: number;
}

const loadAtStart = os.loadavg()[0];
const sink = await HttpSink.start({ parse: false, record: false });
const servers = {} as Record<Mode, { child: ChildProcess; port: number }>;
for (const mode of MODES) servers[mode] = await spawn(mode);
const results = Object.fromEntries(MODES.map((m) => [m, [] as Round[]])) as Record<Mode, Round[]>;

console.error(`warming up the servers (${Math.min(3, seconds)} s each)…`);
for (const mode of MODES) await load(servers[mode], Math.min(3, seconds));
for (let r = 1; r <= rounds; r++) {
  for (const mode of MODES) {
    const round = await load(servers[mode], seconds);
    results[mode].push(round);
    console.error(
      `round ${r} ${mode.padEnd(15)} ${round.rps.toFixed(0)} req/s, p50 ${round.p50} ms, p99 ${round.p99} ms, ` +
        `${round.cpuPerRequest.toFixed(1)} µs CPU/request`,
    );
  }
}
const stats: ClientStats[] = [];
for (const mode of MODES) {
  const answer = await ask<{ stats: ClientStats | null }>(servers[mode].child, 'stats');
  if (answer.stats) stats.push(answer.stats);
}
for (const { child } of Object.values(servers)) child.disconnect();
await sink.close();

const bareCpu = medianBy(results.bare, (r) => r.cpuPerRequest).cpuPerRequest;
const bareBest = Math.max(...results.bare.map((r) => r.rps));
const measured = MODES.filter((m) => m.startsWith('plugin')).reduce(
  (sum, m) => sum + results[m].reduce((s, r) => s + r.requests, 0),
  0,
);
// On a shared machine a round's requests/s mostly says what else ran during it. Two comparisons resist that: each
// round against the bare round just before it (the median of those paired ratios), and best round against best
// round (other load only ever slows a round down). CPU per request moves much less.
console.log(
  `\nFastify hello world, ${connections} connections${rate > 0 ? ` at ${rate} requests/s` : ''}, ${rounds} ` +
    `alternating rounds of ${seconds} s:`,
);
console.log(
  `| server | requests/s: median round | best round | vs bare: paired rounds (median) | vs bare: best rounds | p50 / ` +
    `p99 latency (median round) | server CPU per request: median (lowest) |`,
);
console.log(`|---|---|---|---|---|---|---|`);
const LABELS: Record<Mode, string> = {
  bare: 'bare Fastify',
  plugin: 'with vigilFastify (defaults: gzip, off-thread)',
  'plugin-identity': 'with vigilFastify, compress: false',
  'plugin-observations': "with vigilFastify, durations: 'observations'",
  'empty-hooks': 'empty onRequest + onSend hooks',
  'empty-hooks-on-response': 'empty onRequest + onResponse hooks',
  'plugin-no-recording': 'vigilFastify recording nothing',
  'plugin-no-delivery': 'vigilFastify, transport sending nothing',
};
const percent = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;
for (const mode of MODES) {
  const round = medianBy(results[mode], (r) => r.rps);
  const best = Math.max(...results[mode].map((r) => r.rps));
  const cpu = medianBy(results[mode], (r) => r.cpuPerRequest).cpuPerRequest;
  const lowestCpu = Math.min(...results[mode].map((r) => r.cpuPerRequest));
  const paired = results[mode].map((r, i) => r.rps / results.bare[i].rps).sort((a, b) => a - b)[Math.floor(rounds / 2)];
  const vsPaired = mode === 'bare' ? '—' : percent(paired);
  const vsBest = mode === 'bare' ? '—' : percent(best / bareBest);
  const cpuVs = mode === 'bare' ? '' : ` ${percent(cpu / bareCpu)}`;
  console.log(
    `| ${LABELS[mode]} | ${round.rps.toFixed(0)} | ${best.toFixed(0)} | ${vsPaired} | ${vsBest} | ${round.p50} / ` +
      `${round.p99} ms | ${cpu.toFixed(1)} µs${cpuVs} (${lowestCpu.toFixed(1)} µs) |`,
  );
}
console.log(
  `\nall rounds, requests/s: ` +
    `${MODES.map((m) => `${m} ${results[m].map((r) => r.rps.toFixed(0)).join(', ')}`).join('; ')}`,
);
const sent = stats.reduce((sum, s) => sum + s.metrics.sent, 0);
const dropped = stats.reduce((sum, s) => sum + s.metrics.dropped + s.metrics.rejected, 0);
console.log(
  `clients: ${sent} metric samples sent, ${dropped} dropped or rejected (${measured} instrumented requests measured, ` +
    `plus warm-up)`,
);
console.log(
  `machine: ${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}, load average ` +
    `${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end`,
);

async function spawn(mode: Mode): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(new URL('./plugin-server.ts', import.meta.url), [mode, sink.url], {
    execArgv: ['--import', 'tsx'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  return { child, port };
}

async function load(server: { child: ChildProcess; port: number }, duration: number): Promise<Round> {
  const before = (await ask<{ cpu: number }>(server.child, 'cpu')).cpu;
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}/hello`,
    connections,
    duration,
    pipelining: 1,
    ...(rate > 0 ? { overallRate: rate } : {}),
  });
  const after = (await ask<{ cpu: number }>(server.child, 'cpu')).cpu;
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors`);
  const requests = result.requests.total;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests,
    cpuPerRequest: (after - before) / requests,
  };
}

function ask<T>(child: ChildProcess, question: 'cpu' | 'stats'): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(question);
  });
}
