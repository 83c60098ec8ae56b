/**
 * Where the CPU goes end to end: one run of bench/pipeline.ts (HTTP → gateway → Kafka → writer → PostgreSQL,
 * gateway and writer as separate processes) with every process's CPU accounted from /proc/<pid>/stat over the run
 * (from the first POST until the last event is stored), per stored event:
 *   load generator   this process (it also polls ingest_totals every 20 ms)
 *   gateway, writer  the two roles, each also profiled (--cpu-prof): garbage collection's share of its busy samples
 *                    over the run and its busy time by package (kafkajs, pg, avsc, fastify, vigil's own code, Node
 *                    internals) and by function
 *   broker           the Kafka broker's JVM (the process listening on 9092; shared: other clients count too)
 *   PostgreSQL       the backends connected to this run's database, and the rest of the server (background
 *                    writer, WAL writer, checkpointer, other databases' backends: shared)
 *   machine          all CPU time of the machine over the run (/proc/stat), of which the rest is other work
 * and the waits between the stages, from the roles' own metrics: the gateway's produce time (POST → acks=all),
 * the writer's transactions (COPY, rollups, offsets, commit) and their overlap with the decoding of the next batch.
 *
 *   node --import tsx bench/e2e-profile.ts            # BENCH_ROWS=300000, BENCH_RUNS=1
 *   BENCH_ROWS=200000 BENCH_RUNS=2 node --import tsx bench/e2e-profile.ts
 *   BENCH_KEEP_PROFILES=1 …                         # keep the .cpuprofile files (their paths are printed)
 *   BENCH_ONE_PROCESS=1 …                           # both roles in one process, as `npm start` runs them
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { runPipeline } from './pipeline.ts';
import { freshDatabase } from './writer-lib.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 300_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 1);
/** bench/pipeline.ts's switch: both roles in one process, as `npm start` runs them. */
const ONE_PROCESS = process.env.BENCH_ONE_PROCESS === '1';
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const US_PER_TICK = 1e6 / TICKS_PER_SECOND;
const log = (line: string) => console.error(`[e2e-profile] ${line}`);

/** utime + stime of a process, µs (0 when it is gone). */
function cpuOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * US_PER_TICK; // fields 14 and 15 of stat(5)
  } catch {
    return 0;
  }
}

/** Busy CPU of the whole machine (all but idle and iowait), µs. */
function machineBusy(): number {
  const [, ...ticks] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks;
  return (user + nice + system + irq + softirq + steal) * US_PER_TICK;
}

/** The pid listening on a local TCP port (ss -ltnp). */
function listener(port: number): number {
  const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`]).toString();
  const pid = /pid=(\d+)/.exec(out)?.[1];
  if (!pid) throw new Error(`no process listens on ${port} (ss: ${out.trim() || 'nothing'})`);
  return Number(pid);
}

function childrenOf(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Sum of histogram `name`'s _sum and _count over all label sets, from a Prometheus text exposition. */
function histogram(text: string, name: string): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_sum`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith(`${name}_count`)) count += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { sum, count };
}

interface CpuProfile {
  /** µs of the monotonic clock (process.hrtime's). */
  startTime: number;
  nodes: { id: number; callFrame: { functionName: string; url: string } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Busy time within [fromUs, toUs] by package and GC's share of it, from the .cpuprofile a role wrote at exit. */
interface ProfileSummary {
  gcShare: number;
  byPackage: Map<string, number>;
  byFunction: Map<string, number>;
}

function readProfile(dir: string, fromUs: number, toUs: number): ProfileSummary {
  // The main thread's profile: the largest (a worker thread, e.g. the module loader's, writes a small one beside it).
  const file = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort((a, b) => fs.statSync(path.join(dir, b)).size - fs.statSync(path.join(dir, a)).size)[0];
  if (!file) throw new Error(`no CPU profile in ${dir}`);
  const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
  const bucket = new Map(profile.nodes.map((n) => [n.id, packageOf(n.callFrame)]));
  const nameOf = (frame: CpuProfile['nodes'][number]['callFrame']) =>
    `${frame.functionName || '(anonymous)'} ${path.basename(frame.url)}`.trim();
  const functions = new Map(profile.nodes.map((n) => [n.id, nameOf(n.callFrame)]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    const name = bucket.get(id)!;
    if (name === '(idle)' || at < fromUs || at > toUs) return;
    const spent = profile.timeDeltas[i] ?? 0;
    byPackage.set(name, (byPackage.get(name) ?? 0) + spent);
    byFunction.set(functions.get(id)!, (byFunction.get(functions.get(id)!) ?? 0) + spent);
  });
  const busy = [...byPackage.values()].reduce((a, b) => a + b, 0);
  return { gcShare: (byPackage.get('(garbage collector)') ?? 0) / busy, byPackage, byFunction };
}

function packageOf(frame: { functionName: string; url: string }): string {
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url)?.[1];
  if (pkg) return pkg;
  if (frame.url.startsWith('node:')) return 'node internals';
  return 'vigil';
}

interface Sample {
  [what: string]: number;
}

async function profiledRun(url: string): Promise<{ perEvent: Sample; seconds: number; notes: string[] }> {
  const broker = listener(9092);
  const postmaster = listener(5432);
  const tmp = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const dirs = { gateway: tmp('vigil-prof-gw-'), writer: tmp('vigil-prof-wr-') };
  let pids: { gateway: number; writer: number } = { gateway: 0, writer: 0 };
  let before: Map<number, number> = new Map();
  let after: Map<number, number> = new Map();
  let [machineBefore, machineAfter, selfBefore, selfAfter, fromUs, toUs] = [0, 0, 0, 0, 0, 0];
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  let ourBackends = new Set<number>();
  let metrics = { gateway: '', writer: '' };
  let metricsBefore = { gateway: '', writer: '' };
  const scrape = async (base: string) => (await fetch(`${base}/metrics`)).text();
  const watched = () => [...new Set([pids.gateway, pids.writer]), broker, ...childrenOf(postmaster)];
  const snapshot = () => new Map(watched().map((p) => [p, cpuOf(p)]));
  const selfCpu = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const run = await runPipeline(url, ROWS, {
    // One profile directory per role: each writes its .cpuprofile there at exit.
    nodeArgs: {
      gateway: ['--cpu-prof', `--cpu-prof-dir=${dirs.gateway}`],
      writer: ['--cpu-prof', `--cpu-prof-dir=${dirs.writer}`],
    },
    started: async ({ gateway, writer, gatewayUrl, writerUrl }) => {
      // The roles' metrics count the warm-up too: the waits below are the differences over the measured run.
      metricsBefore = { gateway: await scrape(gatewayUrl), writer: await scrape(writerUrl) };
      pids = { gateway: gateway.child.pid!, writer: writer.child.pid! };
      before = snapshot();
      machineBefore = machineBusy();
      selfBefore = selfCpu();
      fromUs = nowUs();
    },
    finished: async ({ gatewayUrl, writerUrl }) => {
      after = snapshot();
      toUs = nowUs();
      machineAfter = machineBusy();
      selfAfter = selfCpu();
      const backends = await db.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      ourBackends = new Set(backends.rows.map((r) => r.pid));
      metrics = { gateway: await scrape(gatewayUrl), writer: await scrape(writerUrl) };
    },
  });
  await db.end();
  const delta = (pid: number) => (after.get(pid) ?? 0) - (before.get(pid) ?? 0);
  const pgPids = [...after.keys()].filter((p) => p !== pids.gateway && p !== pids.writer && p !== broker);
  const ours = pgPids.filter((p) => ourBackends.has(p)).reduce((n, p) => n + delta(p), 0);
  const rest = pgPids.filter((p) => !ourBackends.has(p)).reduce((n, p) => n + delta(p), 0);
  const cpu: Sample = {
    'load generator (this process)': selfAfter - selfBefore,
    ...(ONE_PROCESS
      ? { 'gateway + writer (one process)': delta(pids.gateway) }
      : { gateway: delta(pids.gateway), writer: delta(pids.writer) }),
    'Kafka broker (JVM, shared)': delta(broker),
    'PostgreSQL backends of this database': ours,
    'PostgreSQL rest of the server (shared)': rest,
  };
  const accounted = Object.values(cpu).reduce((a, b) => a + b, 0);
  cpu['other work on the machine'] = machineAfter - machineBefore - accounted;
  cpu['machine total'] = machineAfter - machineBefore;
  const perEvent: Sample = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v / ROWS]));

  const notes: string[] = [];
  // One process: one profile (the writer's directory stays empty).
  for (const role of ONE_PROCESS ? (['gateway'] as const) : (['gateway', 'writer'] as const)) {
    const { gcShare, byPackage, byFunction } = readProfile(dirs[role], fromUs, toUs);
    const name = ONE_PROCESS ? 'gateway + writer' : role;
    const busy = [...byPackage.values()].reduce((a, b) => a + b, 0);
    const share = ([k, v]: [string, number]) => `${k} ${((100 * v) / busy).toFixed(0)}%`;
    const top = (map: Map<string, number>, n: number) =>
      [...map]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(share)
        .join(', ');
    notes.push(`${name}: GC ${(100 * gcShare).toFixed(0)}% of busy samples; busy by package: ${top(byPackage, 7)}`);
    notes.push(`${name}: top functions (self time): ${top(byFunction, Number(process.env.BENCH_TOP ?? 8))}`);
    if (process.env.BENCH_KEEP_PROFILES) log(`${name}: profile kept in ${dirs[role]}`);
    else fs.rmSync(dirs[role], { recursive: true, force: true });
  }
  if (ONE_PROCESS) fs.rmSync(dirs.writer, { recursive: true, force: true });
  const during = (role: 'gateway' | 'writer', name: string) => {
    const [from, to] = [histogram(metricsBefore[role], name), histogram(metrics[role], name)];
    return { sum: to.sum - from.sum, count: to.count - from.count };
  };
  const produce = during('gateway', 'vigil_gateway_produce_seconds');
  const tx = during('writer', 'vigil_writer_transaction_seconds');
  const copy = during('writer', 'vigil_writer_copy_seconds');
  const rows = during('writer', 'vigil_writer_batch_rows');
  const mean = (h: { sum: number; count: number }, scale = 1) => ((scale * h.sum) / Math.max(1, h.count)).toFixed(0);
  const lag = run.storedSeconds - run.acceptedSeconds;
  notes.push(
    `gateway: ${produce.count} publishes, ${mean(produce, 1000)} ms average from publish to acks=all; ` +
      `publishes waiting on Kafka on average ${(produce.sum / run.storedSeconds).toFixed(1)} at a time`,
    `writer: ${tx.count} transactions of ${mean(rows)} rows on average, ` +
      `${mean(tx, 1000)} ms each (COPY ${mean(copy, 1000)} ms); ` +
      `transactions open ${(tx.sum / run.storedSeconds).toFixed(2)} on average (of WRITER_CONCURRENCY=2) over the run`,
    `accepted in ${run.acceptedSeconds.toFixed(1)} s, stored ${lag.toFixed(1)} s after the last 202`,
  );
  return { perEvent, seconds: run.storedSeconds, notes };
}

const url = await freshDatabase('vigil_bench_profile');
const runs: { perEvent: Sample; seconds: number; notes: string[] }[] = [];
for (let i = 0; i < RUNS; i++) {
  const result = await profiledRun(url);
  log(`run ${i + 1}: ${Math.round(ROWS / result.seconds).toLocaleString('en-US')} events/s`);
  for (const note of result.notes) log(`  ${note}`);
  runs.push(result);
}
const loadavg = os
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
const header = runs.map((r, i) => `run ${i + 1} (${Math.round(ROWS / r.seconds).toLocaleString('en-US')} events/s)`);
const lines = [
  `e2e-profile: ${ROWS.toLocaleString('en-US')} events, CPU µs per stored event (loadavg ${loadavg})`,
  `| process | ${header.join(' | ')} |`,
  `|---|${header.map(() => '---|').join('')}`,
  ...Object.keys(runs[0].perEvent).map((k) => `| ${k} | ${runs.map((r) => r.perEvent[k].toFixed(1)).join(' | ')} |`),
  '',
  ...runs.flatMap((r, i) => r.notes.map((n) => `run ${i + 1}: ${n}`)),
];
console.log(lines.join('\n'));
process.exit(0);
