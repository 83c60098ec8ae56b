/**
 * Scale-out on a real 3-broker Kafka cluster, with a broker and a writer crashing under load.
 *
 *   node --import tsx bench/scaleout.ts
 *   SCALEOUT_BEFORE_S=60 SCALEOUT_DURING_S=40 SCALEOUT_AFTER_S=60 SCALEOUT_CONNECTIONS=12 \
 *     node --import tsx bench/scaleout.ts
 *
 * 1. Starts a private KRaft cluster of 3 combined broker+controller nodes (infra/kafka/broker.ts startKafkaCluster,
 *    free ports, data under a temp dir; the shared broker on 9092 is not touched), creates the topics with
 *    replication factor 3 and min.insync.replicas=2, and a private PostgreSQL database.
 * 2. Runs 2 gateways, 2 writers and 2 alerters as separate processes (bin/vigil.ts --role …, as deployed) on them.
 * 3. Drives load: SCALEOUT_CONNECTIONS concurrent senders, each POSTing batches of SCALEOUT_BATCH events, alternating
 *    between the gateways. Every event's message is a unique marker; the ids of every 202 answer are kept.
 * 4. After SCALEOUT_BEFORE_S, SIGKILLs broker SCALEOUT_KILL_BROKER and one writer, keeps the load for
 *    SCALEOUT_DURING_S (the failover window) and SCALEOUT_AFTER_S more, stops it, waits for the writers to drain.
 * 5. Checks PostgreSQL: every acknowledged event stored exactly once with the id its 202 named (0 lost, 0 duplicated);
 *    reports latency p50/p99 and throughput before, during and after the failover, answers other than 202, and the
 *    CPU time each role used per acknowledged event (from /proc, so independent of how busy the machine was).
 *
 * Everything it started (processes, cluster, temp dir, database) is removed at the end, on error and on Ctrl-C.
 * Exit code 1 when an acknowledged event is lost or stored twice.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { ensureKafkaJars, freePort, startKafkaCluster, type KafkaCluster } from '../infra/kafka/broker.ts';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { dropDatabase } from '../shared/db/ensure-database.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { ensureTopics } from '../shared/kafka/topics.ts';
import {
  cpuTimeMs as cpuMs,
  spawnVigil,
  stopVigil,
  type VigilProcess,
  waitVigilReady,
} from '../test/helpers/process.ts';
import { loadAverage, numberSetting as setting } from './env.ts';
import { freshDatabase } from './writer-lib.ts';

const BROKERS = 3;
const PARTITIONS = setting('SCALEOUT_PARTITIONS', 6);
const BATCH = setting('SCALEOUT_BATCH', 100);
const CONNECTIONS = setting('SCALEOUT_CONNECTIONS', 8);
const BEFORE_S = setting('SCALEOUT_BEFORE_S', 40);
const DURING_S = setting('SCALEOUT_DURING_S', 30);
const AFTER_S = setting('SCALEOUT_AFTER_S', 40);
/** A quiet window before the load: each process's idle CPU rate, subtracted from what the load cost it. */
const IDLE_S = setting('SCALEOUT_IDLE_S', 10);
const KILL_BROKER = setting('SCALEOUT_KILL_BROKER', 2);
const BROKER_HEAP_MB = setting('SCALEOUT_BROKER_HEAP_MB', 512);
/** How long the killed writer holds its partitions before the other writer takes them over. */
const SESSION_TIMEOUT_MS = setting('SCALEOUT_SESSION_TIMEOUT_MS', 10_000);
const READY_TIMEOUT_MS = 120_000;
const DRAIN_TIMEOUT_MS = 300_000;
/** The writers are drained once the stored count has not moved for this long (and covers every 202). */
const DRAIN_QUIET_MS = 6_000;
const RETRY_PAUSE_MS = 200;
const STOP_TIMEOUT_MS = 15_000;

const runStarted = Date.now();
const log = (line: string) => console.error(`[scaleout +${((Date.now() - runStarted) / 1000).toFixed(1)}s] ${line}`);

type Phase = 'before' | 'during' | 'after';
interface PhaseStats {
  latenciesMs: number[];
  acknowledged: number;
  statuses: Map<string, number>;
}
interface Role {
  name: string;
  role: string;
  port: number;
  proc: VigilProcess;
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

class Cleanup {
  private steps: [string, () => Promise<unknown>][] = [];
  add(name: string, step: () => Promise<unknown>) {
    this.steps.unshift([name, step]);
  }
  async run() {
    const steps = this.steps;
    this.steps = [];
    for (const [name, step] of steps) {
      await step().catch((e: unknown) => log(`cleanup ${name}: ${(e as Error).message}`));
    }
  }
}

const stopProcess = (proc: VigilProcess) => stopVigil(proc, STOP_TIMEOUT_MS);

/** Polls an asynchronous check until it holds; false past the deadline. */
async function until(check: () => Promise<boolean>, timeoutMs: number, intervalMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return true;
}

const waitReady = (role: Role) => waitVigilReady(role.proc, role.port, role.name, READY_TIMEOUT_MS);

/** Load: CONNECTIONS senders, each POSTing batches in a loop to the gateways in turn, until stop() is called. */
function startLoad(runId: string, gatewayPorts: number[], token: string, phaseAt: (ms: number) => Phase) {
  const acknowledged = new Map<string, string>(); // marker → id named by the 202
  const phases: Record<Phase, PhaseStats> = {
    before: { latenciesMs: [], acknowledged: 0, statuses: new Map() },
    during: { latenciesMs: [], acknowledged: 0, statuses: new Map() },
    after: { latenciesMs: [], acknowledged: 0, statuses: new Map() },
  };
  let running = true;
  const sender = async (senderId: number) => {
    for (let seq = 0; running; seq++) {
      const port = gatewayPorts[(senderId + seq) % gatewayPorts.length];
      // Letters between the numbers: digits alone could form a Luhn-valid "card number", which ingest redacts.
      const markers = Array.from({ length: BATCH }, (_, i) => `run ${runId} s${senderId} n${seq} i${i}`);
      const body = JSON.stringify(
        markers.map((message, i) => ({
          event_type: 'log',
          source: `scaleout-${(senderId + i) % 20}`,
          level: 'info',
          message,
          tags: { service: 'api', environment: 'bench' },
          payload: { duration_ms: i },
        })),
      );
      const sentAt = performance.now();
      let status: string;
      let ids: (string | null)[] = [];
      try {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/monitoring/events`, {
          method: 'POST',
          body,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });
        status = String(res.status);
        const answer = (await res.json()) as { data?: { ids?: (string | null)[] } };
        if (res.status === 202) ids = answer.data?.ids ?? [];
      } catch (error) {
        status = (error as { cause?: { code?: string } }).cause?.code ?? 'network error';
      }
      const stats = phases[phaseAt(Date.now())];
      stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
      if (status === '202') {
        stats.latenciesMs.push(performance.now() - sentAt);
        markers.forEach((m, i) => {
          if (ids[i]) acknowledged.set(m, ids[i]!);
        });
        stats.acknowledged += ids.filter(Boolean).length;
      } else {
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS)); // a client backing off before its next batch
      }
    }
  };
  const senders = Array.from({ length: CONNECTIONS }, (_, i) => sender(i));
  return {
    acknowledged,
    phases,
    stop: async () => {
      running = false;
      await Promise.all(senders);
    },
  };
}

/** Waits until the stored count covers every 202 and stops moving; returns it. */
async function drain(db: pg.Pool, acknowledged: number): Promise<number> {
  let last = -1;
  let quietSince = Date.now();
  let stored = 0;
  const drained = await until(
    async () => {
      stored = Number((await db.query('SELECT count(*) AS n FROM events')).rows[0].n);
      if (stored !== last) {
        last = stored;
        quietSince = Date.now();
        log(`drain: ${stored} rows stored, ${acknowledged} acknowledged`);
      }
      return stored >= acknowledged && Date.now() - quietSince >= DRAIN_QUIET_MS;
    },
    DRAIN_TIMEOUT_MS,
    1000,
  );
  if (!drained) log(`no drain within ${DRAIN_TIMEOUT_MS / 1000}s: ${stored} rows for ${acknowledged} acknowledged`);
  return stored;
}

async function check(db: pg.Pool, acknowledged: Map<string, string>) {
  const rows = (await db.query<{ message: string; id: string }>('SELECT message, id::text AS id FROM events')).rows;
  const seen = new Map<string, string[]>();
  for (const row of rows) seen.set(row.message, [...(seen.get(row.message) ?? []), row.id]);
  let lost = 0;
  let wrongId = 0;
  for (const [marker, id] of acknowledged) {
    const ids = seen.get(marker);
    if (!ids) lost++;
    else if (!ids.includes(id)) wrongId++;
  }
  const duplicated = [...seen.values()].filter((ids) => ids.length > 1).length;
  const unacknowledgedStored = [...seen.keys()].filter((m) => !acknowledged.has(m)).length;
  return { rows: rows.length, lost, wrongId, duplicated, unacknowledgedStored };
}

/** Set when the check fails: the database is kept, and what the roles printed is written next to it. */
let keepForInspection = false;

/** What a failed check leaves to look at: lost markers, repeated messages, each role's last output. */
async function keepEvidence(db: pg.Pool, acknowledged: Map<string, string>, roles: Role[], tempDir: string) {
  keepForInspection = true;
  const stored = new Set(
    (await db.query<{ message: string }>('SELECT message FROM events')).rows.map((r) => r.message),
  );
  const lost = [...acknowledged].filter(([marker]) => !stored.has(marker)).slice(0, 10);
  console.log('first lost markers (marker, id):', JSON.stringify(lost));
  const repeated = await db.query(
    'SELECT source, left(message, 80) AS message, count(*) AS n FROM events GROUP BY 1, 2 HAVING count(*) > 1 ' +
      'ORDER BY 3 DESC LIMIT 10',
  );
  console.log('most repeated (source, message):', JSON.stringify(repeated.rows));
  const logs = `${tempDir}-logs`;
  fs.mkdirSync(logs, { recursive: true });
  for (const role of roles) fs.writeFileSync(path.join(logs, `${role.name.replace(' ', '-')}.log`), role.proc.output());
  console.log(`each role's last output: ${logs}`);
}

function phaseRow(name: Phase, stats: PhaseStats, seconds: number): string {
  const sorted = [...stats.latenciesMs].sort((a, b) => a - b);
  const answers = [...stats.statuses]
    .sort()
    .map(([s, n]) => `${n}× ${s}`)
    .join(', ');
  const rate = Math.round(stats.acknowledged / seconds).toLocaleString('en-US');
  return (
    `| ${name} | ${seconds.toFixed(0)} s | ${rate} events/s | ${quantile(sorted, 0.5).toFixed(0)} ms | ` +
    `${quantile(sorted, 0.99).toFixed(0)} ms | ${answers} |`
  );
}

async function main(cleanup: Cleanup): Promise<number> {
  const runId = crypto.randomBytes(4).toString('hex');
  const freeMiB = Math.round(os.freemem() / 2 ** 20);
  log(`run ${runId}: ${os.cpus().length} cores, load average ${loadAverage()}, ${freeMiB} MiB free`);
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), `vigil-scaleout-${runId}-`));
  cleanup.add('temp dir', async () => fs.rmSync(tempDir, { recursive: true, force: true }));

  const localDir = loadConfig({ ...process.env }).kafka.local.dir;
  const libDir = await ensureKafkaJars({ dir: localDir, log });
  log(`starting a ${BROKERS}-broker KRaft cluster (heap ${BROKER_HEAP_MB} MiB each) in ${tempDir}…`);
  const cluster: KafkaCluster = await startKafkaCluster({
    dir: tempDir,
    libDir,
    nodes: BROKERS,
    heapMb: BROKER_HEAP_MB,
    log,
  });
  cleanup.add('Kafka cluster', () => cluster.stop());
  log(`cluster up: ${cluster.brokers.join(',')}`);

  const dbName = `vigil_bench_scaleout_${runId}`;
  const url = await freshDatabase(dbName);
  cleanup.add('database', async () => {
    if (keepForInspection) log(`kept the database for inspection: ${url}`);
    else await dropDatabase(url, dbName);
  });
  const env: Record<string, string> = {
    DATABASE_URL: url,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    KAFKA_BROKERS: cluster.brokers.join(','),
    KAFKA_TOPIC_EVENTS: `scaleout.${runId}.events`,
    KAFKA_TOPIC_METRICS: `scaleout.${runId}.metrics`,
    KAFKA_TOPIC_DLQ: `scaleout.${runId}.dlq`,
    KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
    KAFKA_REPLICATION_FACTOR: String(BROKERS),
    KAFKA_MIN_INSYNC_REPLICAS: '2',
    WRITER_GROUP_ID: `scaleout-${runId}-writer`,
    ALERTER_GROUP_ID: `scaleout-${runId}-alerter`,
    WRITER_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
    ALERTER_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
  };
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, 'scaleout');
  await ensureTopics(kafka, config.kafka);
  log(
    `topics ${config.kafka.topics.events} (+metrics, dlq): ${PARTITIONS} partitions, replication factor ${BROKERS}, ` +
      'min.insync.replicas=2',
  );

  const roles: Role[] = [];
  for (const role of ['gateway', 'writer', 'alerter']) {
    for (let n = 1; n <= 2; n++) {
      const port = await freePort();
      const proc = spawnVigil(role, { ...env, PORT: String(port) });
      const started: Role = { name: `${role} ${n}`, role, port, proc };
      cleanup.add(started.name, () => stopProcess(proc));
      roles.push(started);
      log(`starting ${started.name} (pid ${proc.child.pid}, port ${port})…`);
    }
  }
  await Promise.all(roles.map(waitReady));
  log('all 6 processes ready');

  const gateways = roles.filter((r) => r.role === 'gateway');
  const writers = roles.filter((r) => r.role === 'writer');
  const token = signToken(config.auth, { role: 'user', sub: 'scaleout', ttlSeconds: 3600 });
  const db = new pg.Pool({ connectionString: url, max: 2 });
  cleanup.add('pool', () => db.end());

  // CPU of every process: at the start of the idle window, at the start of the load, and at its kill or the end.
  const pids = new Map<string, number | undefined>([
    ...roles.map((r): [string, number | undefined] => [r.name, r.proc.child.pid]),
    ...cluster.nodes.map((n): [string, number] => [`broker ${n.nodeId}`, n.pid]),
  ]);
  const snapshot = () => new Map([...pids].map(([name, pid]) => [name, { at: Date.now(), cpu: cpuMs(pid) }]));
  log(`measuring idle CPU for ${IDLE_S} s…`);
  const idleStart = snapshot();
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  const loadStart = snapshot();
  const cpuAtKill = new Map<string, { at: number; cpu: number | null }>();

  const loadStarted = loadStart.get(roles[0].name)!.at;
  let killedAt = Infinity;
  const phaseAt = (ms: number): Phase =>
    ms < killedAt ? 'before' : ms < killedAt + DURING_S * 1000 ? 'during' : 'after';
  log(`load: ${CONNECTIONS} senders × batches of ${BATCH} over ${gateways.length} gateways`);
  const load = startLoad(
    runId,
    gateways.map((g) => g.port),
    token,
    phaseAt,
  );
  const ticker = setInterval(() => log(`${load.acknowledged.size} events acknowledged so far`), 10_000);
  try {
    await new Promise((r) => setTimeout(r, BEFORE_S * 1000));
    const broker = cluster.nodes.find((n) => n.nodeId === KILL_BROKER)!;
    const victim = writers[1];
    cpuAtKill.set(`broker ${broker.nodeId}`, { at: Date.now(), cpu: cpuMs(broker.pid) });
    cpuAtKill.set(victim.name, { at: Date.now(), cpu: cpuMs(victim.proc.child.pid) });
    killedAt = Date.now();
    await cluster.kill(broker.nodeId);
    log(`killed broker ${broker.nodeId} (SIGKILL) at t=${((Date.now() - loadStarted) / 1000).toFixed(1)}s of the load`);
    victim.proc.child.kill('SIGKILL');
    await victim.proc.exited;
    log(`killed ${victim.name} (SIGKILL) at t=${((Date.now() - loadStarted) / 1000).toFixed(1)}s of the load`);
    await new Promise((r) => setTimeout(r, (DURING_S + AFTER_S) * 1000));
  } finally {
    clearInterval(ticker);
    await load.stop();
  }
  const loadEnded = Date.now();
  log(`load stopped: ${load.acknowledged.size} events acknowledged; waiting for the writers to drain…`);
  await drain(db, load.acknowledged.size);
  const result = await check(db, load.acknowledged);

  const end = snapshot();
  const perRole = new Map<string, { gross: number; net: number }>();
  for (const [name] of pids) {
    const role = name.split(' ')[0];
    const [idle0, start, stop] = [idleStart.get(name)!, loadStart.get(name)!, cpuAtKill.get(name) ?? end.get(name)!];
    if (idle0.cpu === null || start.cpu === null || stop.cpu === null) continue;
    const idleRate = (start.cpu - idle0.cpu) / (start.at - idle0.at);
    const gross = stop.cpu - start.cpu;
    const sum = perRole.get(role) ?? { gross: 0, net: 0 };
    const net = Math.max(0, gross - idleRate * (stop.at - start.at));
    perRole.set(role, { gross: sum.gross + gross, net: sum.net + net });
  }

  const beforeS = (killedAt - loadStarted) / 1000;
  const afterS = (loadEnded - killedAt) / 1000 - DURING_S;
  const total = load.acknowledged.size;
  console.log(
    `\nscale-out run ${runId}: ${BROKERS} brokers (RF ${BROKERS}, min.insync.replicas 2, ` +
      `heap ${BROKER_HEAP_MB} MiB), ` +
      `${PARTITIONS} partitions, 2 gateways, 2 writers, 2 alerters; ` +
      `${CONNECTIONS} senders × ${BATCH} events per POST; ` +
      `killed broker ${KILL_BROKER} and writer 2 (SIGKILL) after ${beforeS.toFixed(0)} s; writer session timeout ` +
      `${SESSION_TIMEOUT_MS} ms; ${os.cpus().length} cores, load average at the end ${loadAverage()}\n`,
  );
  console.log('| phase | length | acknowledged | p50 latency (202) | p99 latency (202) | answers |');
  console.log('|---|---|---|---|---|---|');
  console.log(phaseRow('before', load.phases.before, beforeS));
  console.log(phaseRow('during', load.phases.during, DURING_S));
  console.log(phaseRow('after', load.phases.after, afterS));
  const overall = Math.round(total / ((loadEnded - loadStarted) / 1000));
  console.log(
    `\nacknowledged ${total} events (${overall} events/s overall); ` +
      `stored ${result.rows} rows: lost ${result.lost}, duplicated ${result.duplicated}, ` +
      `stored under another id ${result.wrongId}, stored without a 202 (answered 503, produced anyway) ` +
      `${result.unacknowledgedStored}`,
  );
  console.log(
    `\n| role (all instances) | CPU time, load start to drained | µs per acknowledged event ` +
      `| the same, net of the idle rate (${IDLE_S} s before the load) |`,
  );
  console.log('|---|---|---|---|');
  for (const [role, { gross, net }] of perRole) {
    const perEvent = (ms: number) => ((ms * 1000) / total).toFixed(1);
    console.log(`| ${role} | ${(gross / 1000).toFixed(1)} s | ${perEvent(gross)} | ${perEvent(net)} |`);
  }
  const ok = result.lost === 0 && result.duplicated === 0 && result.wrongId === 0 && total > 0;
  console.log(ok ? '\nPASS: every acknowledged event stored exactly once' : '\nFAIL: see the counts above');
  if (!ok) await keepEvidence(db, load.acknowledged, roles, tempDir);
  return ok ? 0 : 1;
}

const cleanup = new Cleanup();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${signal}: cleaning up…`);
    void cleanup.run().finally(() => process.exit(130));
  });
}
main(cleanup).then(
  async (code) => {
    log('cleaning up…');
    await cleanup.run();
    process.exit(code);
  },
  async (error: unknown) => {
    console.error(error instanceof Error ? error.stack : String(error));
    await cleanup.run();
    process.exit(1);
  },
);
