// Runs a real single-node Apache Kafka broker (KRaft, combined broker+controller) from the
// jars on Maven Central: no Docker, no tarball. Everything lives under opts.dir: lib/, data/, server.properties,
// cluster-id, broker.pid, broker.log. startKafkaCluster runs N such nodes in one KRaft quorum (benchmarks and
// fault tests that kill a broker), each with its own dir, on the same jars.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BrokerOptions {
  dir: string;
  port: number;
  controllerPort: number;
  heapMb?: number;
  log?: (line: string) => void;
}

export const KAFKA_VERSION = '4.1.1'; // must match <kafka.version> in pom.xml
const HERE = path.dirname(fileURLToPath(import.meta.url));
const POM = path.join(HERE, 'pom.xml');
const LOG4J_CONFIG = path.join(HERE, 'log4j2.properties');
const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;
const READY_LINE = 'Kafka Server started';
const BANNER = '===== vigil: starting Kafka';

const logger = (opts: { log?: (line: string) => void }) =>
  opts.log ?? ((line: string) => console.error(`[kafka] ${line}`));

/** libDir: the jars, when they live elsewhere than dir/lib (the nodes of a cluster share one copy). */
function paths(dir: string, libDir?: string) {
  const root = path.resolve(dir);
  const lib = libDir === undefined ? path.join(root, 'lib') : path.resolve(libDir);
  return {
    root,
    lib,
    marker: path.join(lib, '.kafka-version'),
    data: path.join(root, 'data'),
    props: path.join(root, 'server.properties'),
    clusterId: path.join(root, 'cluster-id'),
    pidFile: path.join(root, 'broker.pid'),
    logFile: path.join(root, 'broker.log'),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function isPortOpen(port: number, host = HOST, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function onPath(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(d || '.', cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return null;
}

function requireTool(cmd: string, install: string, log: (l: string) => void): void {
  if (onPath(cmd)) return;
  const msg = `'${cmd}' not found on PATH: install ${install} to run a local Kafka broker`;
  log(msg);
  throw new Error(msg);
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function lastBannerOffset(file: string): number {
  try {
    return Math.max(0, fs.readFileSync(file).lastIndexOf(BANNER));
  } catch {
    return 0;
  }
}

function logSince(file: string, fromOffset: number): string[] {
  try {
    return fs.readFileSync(file).subarray(fromOffset).toString('utf8').trimEnd().split('\n');
  } catch {
    return [];
  }
}

// The last 30 lines are often the middle of a stack trace, so name the cause up front:
// the first ERROR line, the exception printed under it, and the first "Caused by".
function firstProblems(lines: string[]): string {
  const i = lines.findIndex((l) => /\] (ERROR|FATAL) /.test(l) || /^Error: /.test(l));
  const exception = i >= 0 && /^[\w.$]+(Exception|Error)\b/.test(lines[i + 1] ?? '') ? lines[i + 1] : undefined;
  const cause = lines.find((l) => l.startsWith('Caused by: '));
  return [i >= 0 ? lines[i] : undefined, exception, cause]
    .filter(Boolean)
    .map((l) => `\n  ${l!.trim()}`)
    .join('');
}

// Run a short-lived command, collecting its output for error messages.
function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b) => {
      output += b;
    });
    child.stderr.on('data', (b) => {
      output += b;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

// A pid is only "ours" if it is a live (non-zombie) JVM running our server.properties:
// pid files outlive reboots and pids get reused, and PID 1 here may not reap orphans.
function isOurBroker(pid: number, propsFile: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/s.test(stat)) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(propsFile);
  } catch {
    return process.platform !== 'linux'; // no /proc: trust kill(0)
  }
}

function readPid(pidFile: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  // java was spawned detached, so it leads its own process group.
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export async function ensureKafkaJars(opts: Pick<BrokerOptions, 'dir' | 'log'>): Promise<string> {
  const p = paths(opts.dir);
  const log = logger(opts);
  const jar = path.join(p.lib, `kafka_2.13-${KAFKA_VERSION}.jar`);
  if (fs.existsSync(jar) && readText(p.marker) === KAFKA_VERSION) return p.lib;

  requireTool('mvn', 'Apache Maven 3.x (apt-get install maven)', log);
  log(`fetching Apache Kafka ${KAFKA_VERSION} from Maven Central (first run downloads ~50 MB)…`);
  const started = Date.now();
  // Copy into a scratch dir and swap it in, so an interrupted fetch or a version bump never
  // leaves a half-filled or mixed-version classpath behind.
  const scratch = `${p.lib}.tmp-${process.pid}`;
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(p.root, { recursive: true });
  const ticker = setInterval(
    () => log(`still fetching Kafka jars… ${Math.round((Date.now() - started) / 1000)}s`),
    10_000,
  );
  try {
    const { code, output } = await run(
      'mvn',
      ['-q', '-B', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${scratch}`],
      p.root,
    );
    if (code !== 0 || !fs.existsSync(path.join(scratch, path.basename(jar)))) {
      throw new Error(
        `mvn could not fetch Kafka ${KAFKA_VERSION} (exit ${code}):\n` +
          output.trimEnd().split('\n').slice(-30).join('\n'),
      );
    }
  } catch (e) {
    fs.rmSync(scratch, { recursive: true, force: true });
    throw e;
  } finally {
    clearInterval(ticker);
  }
  fs.writeFileSync(path.join(scratch, '.kafka-version'), `${KAFKA_VERSION}\n`);
  fs.rmSync(p.lib, { recursive: true, force: true });
  fs.renameSync(scratch, p.lib);
  log(`Kafka ${KAFKA_VERSION} jars ready in ${p.lib} (${Math.round((Date.now() - started) / 1000)}s)`);
  return p.lib;
}

// Kafka's own Uuid rules: 16 random bytes, base64url without padding, never starting with '-'.
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Where a KRaft node listens, and the quorum it belongs to. */
interface NodeSpec {
  nodeId: number;
  port: number;
  controllerPort: number;
  /** Every voter of the quorum (this node included), as `id@host:controllerPort`. */
  voters: string[];
}

function serverProperties(p: ReturnType<typeof paths>, node: NodeSpec): string {
  // Kafka's internal topics (group offsets, transactions, share groups) as replicated as the cluster allows, so a
  // consumer group survives the loss of one broker of three.
  const replicas = node.voters.length;
  const minIsr = Math.min(2, replicas);
  return [
    '# Written by infra/kafka/broker.ts on every start; edits here are overwritten.',
    'process.roles=broker,controller',
    `node.id=${node.nodeId}`,
    // Static quorum, so the storage is formatted WITHOUT --standalone.
    `controller.quorum.voters=${node.voters.join(',')}`,
    `listeners=PLAINTEXT://${HOST}:${node.port},CONTROLLER://${HOST}:${node.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${node.port}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    `log.dirs=${p.data}`,
    'num.partitions=1',
    'auto.create.topics.enable=false',
    'log.retention.hours=168',
    `offsets.topic.replication.factor=${replicas}`,
    'offsets.topic.num.partitions=1',
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `share.coordinator.state.topic.replication.factor=${replicas}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    // Test consumer groups would otherwise wait 3 s for more members before the first assignment.
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

const singleNode = (opts: BrokerOptions): NodeSpec => ({
  nodeId: 1,
  port: opts.port,
  controllerPort: opts.controllerPort,
  voters: [`1@${HOST}:${opts.controllerPort}`],
});

function javaArgs(p: ReturnType<typeof paths>, heapMb: number, mainClass: string, args: string[]): string[] {
  return [
    `-Xms${Math.min(512, heapMb)}m`,
    `-Xmx${heapMb}m`,
    `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
    '-cp',
    `${p.lib}/*`,
    mainClass,
    ...args,
  ];
}

async function formatStorage(p: ReturnType<typeof paths>, heapMb: number, log: (l: string) => void): Promise<void> {
  if (fs.existsSync(path.join(p.data, 'meta.properties'))) return;
  let clusterId = readText(p.clusterId);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(clusterId)) {
    clusterId = newClusterId();
    fs.writeFileSync(p.clusterId, `${clusterId}\n`);
  }
  log(`formatting ${p.data} (cluster id ${clusterId})`);
  const { code, output } = await run(
    'java',
    javaArgs(p, Math.min(heapMb, 512), 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', p.props]),
    p.root,
  );
  if (code !== 0) throw new Error(`kafka StorageTool format failed (exit ${code}):\n${output.trimEnd()}`);
}

async function waitReady(
  child: ChildProcess | null,
  pid: number,
  opts: BrokerOptions,
  p: ReturnType<typeof paths>,
  logOffset: number | null,
): Promise<string | null> {
  const log = logger(opts);
  const started = Date.now();
  let exited = false;
  let exitCode: number | string | null = null;
  child?.once('exit', (code, signal) => {
    exited = true;
    exitCode = code ?? signal;
  });
  let lastTick = started;
  let sawReadyLine = logOffset === null; // adopting a running JVM: its ready line may be long gone
  while (Date.now() - started < READY_TIMEOUT_MS) {
    if (exited || !isOurBroker(pid, p.props))
      return `the broker process exited${exitCode !== null ? ` (${exitCode})` : ''}`;
    if (!sawReadyLine) {
      const fd = fs.openSync(p.logFile, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        const buf = Buffer.alloc(Math.max(0, size - logOffset!));
        fs.readSync(fd, buf, 0, buf.length, logOffset!);
        sawReadyLine = buf.toString('utf8').includes(READY_LINE);
      } finally {
        fs.closeSync(fd);
      }
    }
    if (sawReadyLine && (await isPortOpen(opts.port))) return null;
    if (Date.now() - lastTick >= 5000) {
      lastTick = Date.now();
      log(`waiting for Kafka broker on ${HOST}:${opts.port}… ${Math.round((lastTick - started) / 1000)}s`);
    }
    await sleep(250);
  }
  return `the broker was not ready after ${READY_TIMEOUT_MS / 1000}s`;
}

/** Kills a JVM that did not come up and throws with the cause from its log (from logOffset: this run's output). */
function failStart(p: ReturnType<typeof paths>, pid: number, why: string, logOffset: number): never {
  killGroup(pid, 'SIGKILL');
  fs.rmSync(p.pidFile, { force: true });
  const lines = logSince(p.logFile, logOffset);
  throw new Error(
    `Kafka broker failed to start: ${why}.${firstProblems(lines)}\n` +
      `Last 30 lines of ${p.logFile}:\n${lines.slice(-30).join('\n') || '(no log output)'}\n(full log: ${p.logFile})`,
  );
}

export async function startBroker(opts: BrokerOptions): Promise<{ pid: number | null; reused: boolean }> {
  const p = paths(opts.dir);
  const log = logger(opts);
  const heapMb = opts.heapMb ?? 1024;
  const existing = readPid(p.pidFile);
  const ours = existing !== null && isOurBroker(existing, p.props) ? existing : null;

  if (await isPortOpen(opts.port)) {
    log(
      `reusing the broker already listening on ${HOST}:${opts.port}${
        ours ? ` (pid ${ours})` : ' (not started from ' + 'this dir)'
      }`,
    );
    return { pid: ours, reused: true };
  }

  const fail = (pid: number, why: string, logOffset = 0): never => failStart(p, pid, why, logOffset);

  // Our JVM is alive but not listening yet: probably another `up` is still starting it.
  if (ours) {
    log(`broker pid ${ours} is still starting; waiting for it`);
    const why = await waitReady(null, ours, opts, p, null);
    if (why) fail(ours, why, lastBannerOffset(p.logFile));
    return { pid: ours, reused: true };
  }

  requireTool('java', 'a Java 17+ runtime (apt-get install openjdk-17-jre-headless)', log);
  await ensureKafkaJars(opts);
  const started = Date.now();
  const { child, pid, logOffset } = await launch(p, singleNode(opts), heapMb, log);
  const why = await waitReady(child, pid, opts, p, logOffset);
  if (why) fail(pid, why, logOffset);
  log(`Kafka broker ready on ${HOST}:${opts.port} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return { pid, reused: false };
}

/** Writes the node's properties, formats its storage if new, and spawns its JVM (not yet ready). */
async function launch(p: ReturnType<typeof paths>, node: NodeSpec, heapMb: number, log: (l: string) => void) {
  fs.mkdirSync(p.data, { recursive: true });
  fs.writeFileSync(p.props, serverProperties(p, node));
  await formatStorage(p, heapMb, log);

  // A banner separates runs in the appended log; readiness only looks past it.
  const logOffset = fs.existsSync(p.logFile) ? fs.statSync(p.logFile).size : 0;
  fs.appendFileSync(p.logFile, `\n${BANNER} ${KAFKA_VERSION} at ${new Date().toISOString()} =====\n`);
  const out = fs.openSync(p.logFile, 'a');
  let child: ChildProcess;
  try {
    const args = javaArgs(p, heapMb, 'kafka.Kafka', [p.props]);
    child = spawn('java', args, { cwd: p.root, detached: true, stdio: ['ignore', out, out] });
  } finally {
    fs.closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn java for the Kafka broker (see ${p.logFile})`);
  child.on('error', () => {
    /* surfaced as an exit by waitReady */
  });
  child.unref();
  fs.writeFileSync(p.pidFile, `${pid}\n`);
  log(
    `started Kafka ${KAFKA_VERSION} node ${node.nodeId} (pid ${pid}) on ${HOST}:${node.port}, ` +
      `controller ${HOST}:${node.controllerPort}, log ${p.logFile}`,
  );
  return { child, pid, logOffset };
}

export async function stopBroker(opts: BrokerOptions): Promise<boolean> {
  const p = paths(opts.dir);
  const log = logger(opts);
  const pid = readPid(p.pidFile);
  if (pid === null || !isOurBroker(pid, p.props)) {
    fs.rmSync(p.pidFile, { force: true });
    if (await isPortOpen(opts.port))
      log(`${HOST}:${opts.port} is served by a broker not started from ${p.root}; leaving it alone`);
    return false;
  }
  const started = Date.now();
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* exited meanwhile */
  } // the JVM's shutdown hook does a controlled shutdown
  while (isOurBroker(pid, p.props) && Date.now() - started < STOP_TIMEOUT_MS) await sleep(200);
  if (isOurBroker(pid, p.props)) {
    log(`broker pid ${pid} ignored SIGTERM for ${STOP_TIMEOUT_MS / 1000}s; killing it`);
    killGroup(pid, 'SIGKILL');
    while (isOurBroker(pid, p.props) && Date.now() - started < STOP_TIMEOUT_MS + 5000) await sleep(100);
  }
  fs.rmSync(p.pidFile, { force: true });
  log(`stopped Kafka broker (pid ${pid}) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return true;
}

export async function brokerStatus(
  opts: BrokerOptions,
): Promise<{ running: boolean; pid: number | null; logFile: string }> {
  const p = paths(opts.dir);
  const pid = readPid(p.pidFile);
  const alive = pid !== null && isOurBroker(pid, p.props);
  return { running: alive && (await isPortOpen(opts.port)), pid: alive ? pid : null, logFile: p.logFile };
}

/** A TCP port free on 127.0.0.1 at the time of the call. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ClusterOptions {
  /** Parent of the nodes' dirs (node-1, node-2, …): data, server.properties, broker.log of each. */
  dir: string;
  /** The jars (ensureKafkaJars of the local broker's dir: one download serves every node). */
  libDir: string;
  nodes: number;
  heapMb?: number;
  log?: (line: string) => void;
}

export interface ClusterNode {
  nodeId: number;
  port: number;
  controllerPort: number;
  pid: number;
  logFile: string;
}

export interface KafkaCluster {
  nodes: ClusterNode[];
  /** Bootstrap list for KAFKA_BROKERS. */
  brokers: string[];
  /** SIGKILL of one node's JVM (a crash: no controlled shutdown); resolves once it is gone. */
  kill(nodeId: number): Promise<void>;
  /** Stops every node still running (SIGTERM, then SIGKILL); the dirs are the caller's. */
  stop(): Promise<void>;
}

/**
 * Starts `nodes` combined broker+controller nodes forming one KRaft quorum (every node a voter) on free ports, each
 * under opts.dir/node-<id>. Nodes of a static quorum wait for each other, so all are spawned before any is awaited.
 */
export async function startKafkaCluster(opts: ClusterOptions): Promise<KafkaCluster> {
  const log = logger(opts);
  const heapMb = opts.heapMb ?? 512;
  requireTool('java', 'a Java 17+ runtime (apt-get install openjdk-17-jre-headless)', log);
  const specs: NodeSpec[] = [];
  for (let nodeId = 1; nodeId <= opts.nodes; nodeId++) {
    specs.push({ nodeId, port: await freePort(), controllerPort: await freePort(), voters: [] });
  }
  const voters = specs.map((n) => `${n.nodeId}@${HOST}:${n.controllerPort}`);
  const clusterId = newClusterId();
  const nodes: (ClusterNode & { p: ReturnType<typeof paths> })[] = [];
  const cluster: KafkaCluster = {
    nodes,
    brokers: specs.map((n) => `${HOST}:${n.port}`),
    kill: async (nodeId) => {
      const node = nodes.find((n) => n.nodeId === nodeId);
      if (!node) throw new Error(`no Kafka node ${nodeId} in this cluster`);
      killGroup(node.pid, 'SIGKILL');
      while (isOurBroker(node.pid, node.p.props)) await sleep(50);
    },
    stop: () => stopNodes(nodes, log),
  };
  try {
    // Formatting (a JVM each) and spawning run side by side; the quorum forms once a majority is up.
    // allSettled: a node whose launch failed must not leave the others' JVMs running.
    const launched = await Promise.allSettled(
      specs.map(async (spec) => {
        const p = paths(path.join(opts.dir, `node-${spec.nodeId}`), opts.libDir);
        fs.mkdirSync(p.root, { recursive: true });
        fs.writeFileSync(p.clusterId, `${clusterId}\n`);
        log(`starting broker ${spec.nodeId}/${opts.nodes} on ${HOST}:${spec.port}…`);
        const { child, pid, logOffset } = await launch(p, { ...spec, voters }, heapMb, log);
        const { nodeId, port, controllerPort } = spec;
        const node = { nodeId, port, controllerPort, pid, logFile: p.logFile, p };
        nodes.push(node);
        return { node, ready: waitReady(child, pid, { ...spec, dir: p.root, log }, p, logOffset) };
      }),
    );
    nodes.sort((a, b) => a.nodeId - b.nodeId);
    for (const result of launched) {
      if (result.status === 'rejected') throw result.reason;
      const { node, ready } = result.value;
      const why = await ready;
      if (why) failStart(node.p, node.pid, why, 0);
      log(`broker ${node.nodeId}/${opts.nodes} ready on ${HOST}:${node.port}`);
    }
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

async function stopNodes(nodes: { pid: number; p: ReturnType<typeof paths> }[], log: (l: string) => void) {
  const alive = nodes.filter((n) => isOurBroker(n.pid, n.p.props));
  for (const node of alive) {
    try {
      process.kill(node.pid, 'SIGTERM');
    } catch {
      /* exited meanwhile */
    }
  }
  const started = Date.now();
  while (alive.some((n) => isOurBroker(n.pid, n.p.props)) && Date.now() - started < STOP_TIMEOUT_MS) await sleep(200);
  for (const node of alive.filter((n) => isOurBroker(n.pid, n.p.props))) {
    log(`Kafka node pid ${node.pid} ignored SIGTERM for ${STOP_TIMEOUT_MS / 1000}s; killing it`);
    killGroup(node.pid, 'SIGKILL');
  }
  for (const node of nodes) fs.rmSync(node.p.pidFile, { force: true });
}
