/**
 * Recovery after a crash: a vigil process (gateway only, writer only, or all roles) is killed with SIGKILL while
 * it runs, and started again at once, as `npm start` would (bin/vigil.ts, vigil's Node flags, the same port and
 * the same consumer groups). Measured from the restart (the spawn of the new process):
 *
 * - first 202: the first POST /events accepted (polled every 50 ms; connection refused until the port is bound);
 * - stored again: the first event sent after the restart is in PostgreSQL (the writer has rejoined its group,
 *   which Kafka allows once the killed member's session expired: WRITER_SESSION_TIMEOUT_MS, 30 s by default);
 * - ready: GET /readyz answers 200 (every role joined its group; the alerter owns what it was assigned);
 * - CPU to first 202: the CPU time (user + system, /proc/<pid>/stat) the new process had used when its first 202
 *   arrived — start-up work, independent of how many other processes share the cores (wall times are not).
 *
 *   node --import tsx bench/restart.ts
 *   BENCH_ROUNDS=3 BENCH_SESSION_TIMEOUT_MS=10000 BENCH_SCENARIOS=all BENCH_NICE=-10 node --import tsx bench/restart.ts
 *
 * Writer only: the event after the restart is produced straight into Kafka (JSON, as a direct producer would),
 * since that process has no gateway. Each scenario has its own database, topics and groups.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { Partitioners } from 'kafkajs';
import { NODE_FLAGS } from '../bin/node-flags.ts';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig, ROOT_DIR, type Config } from '../shared/config.ts';
import { dropDatabase } from '../shared/db/ensure-database.ts';
import { kafkajsClient } from '../test/helpers/kafkajs.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { cpuTimeMs, freePort } from '../test/helpers/process.ts';
import { loadAverage } from './env.ts';
import { freshDatabase } from './writer-lib.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SESSION_TIMEOUT_MS = process.env.BENCH_SESSION_TIMEOUT_MS ?? '30000';
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? 'gateway,writer,all').split(',') as Scenario[];
const NICE = process.env.BENCH_NICE;
const POLL_MS = 50;
const GIVE_UP_MS = 120_000;
const log = (line: string) => console.error(`[restart] ${line}`);

type Scenario = 'gateway' | 'writer' | 'all';
interface Round {
  firstAcceptedMs: number | null;
  cpuAtFirstAcceptedMs: number | null;
  storedAgainMs: number | null;
  readyMs: number;
}

function start(role: Scenario, env: Record<string, string>): ChildProcess {
  const args = [...NODE_FLAGS, '--import', 'tsx', path.join(ROOT_DIR, 'bin', 'vigil.ts'), '--role', role];
  // BENCH_NICE (e.g. -10, as root) shields the measured process from other work on a shared machine.
  const [command, argv] =
    NICE === undefined ? [process.execPath, args] : ['nice', ['-n', NICE, process.execPath, ...args]];
  return spawn(command, argv, {
    cwd: ROOT_DIR,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: 'ignore',
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Polls until `probe` is true; the time it took from `since`, or null after GIVE_UP_MS. */
async function timeUntil(since: number, probe: () => Promise<boolean>): Promise<number | null> {
  while (Date.now() - since < GIVE_UP_MS) {
    if (await probe().catch(() => false)) return Date.now() - since;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return null;
}

async function scenario(role: Scenario): Promise<Round[]> {
  const id = crypto.randomBytes(4).toString('hex');
  const dbName = `vigil_bench_restart_${id}`;
  const url = await freshDatabase(dbName);
  const port = await freePort();
  const env: Record<string, string> = {
    DATABASE_URL: url,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    KAFKA_TOPIC_EVENTS: `bench.${id}.events`,
    KAFKA_TOPIC_METRICS: `bench.${id}.metrics`,
    KAFKA_TOPIC_DLQ: `bench.${id}.dlq`,
    WRITER_GROUP_ID: `bench-${id}-writer`,
    ALERTER_GROUP_ID: `bench-${id}-alerter`,
    WRITER_SESSION_TIMEOUT_MS: SESSION_TIMEOUT_MS,
    ALERTER_SESSION_TIMEOUT_MS: SESSION_TIMEOUT_MS,
  };
  const config: Config = loadConfig(env);
  const kafka = createKafka(config.kafka, 'bench');
  await ensureTopics(kafka, config.kafka);
  const producer = kafkajsClient(config.kafka.brokers, 'bench').producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const db = new pg.Pool({ connectionString: url, max: 2 });
  const token = signToken(config.auth, { role: 'user', sub: 'bench', ttlSeconds: 3600 });
  const base = `http://127.0.0.1:${port}`;
  const hasGateway = role !== 'writer';
  const hasWriter = role !== 'gateway';

  const post = async (message: string) =>
    (
      await fetch(`${base}/api/v1/monitoring/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ event_type: 'log', source: 'bench-restart', level: 'info', message }),
      })
    ).status === 202;
  const produce = (message: string) => {
    const value = JSON.stringify({ event_type: 'log', source: 'bench-restart', level: 'info', message });
    const headers = { 'content-type': 'application/json' };
    const messages = [{ key: 'bench-restart', value, headers }];
    return producer.send({ topic: config.kafka.topics.events, acks: -1, messages });
  };
  const stored = async (message: string) =>
    (await db.query('SELECT 1 FROM events WHERE message = $1', [message])).rowCount === 1;
  const ready = async () => (await fetch(`${base}/readyz`)).status === 200;

  const rounds: Round[] = [];
  try {
    let child = start(role, env);
    if ((await timeUntil(Date.now(), ready)) === null) throw new Error(`${role}: never ready`);
    for (let round = 0; round < ROUNDS; round++) {
      // Running, and (with a writer) storing: then the crash.
      const warm = `warm ${round}`;
      if (hasGateway) await post(warm);
      else await produce(warm);
      if (hasWriter && (await timeUntil(Date.now(), () => stored(warm))) === null) {
        throw new Error(`${role}: not storing`);
      }
      await kill(child);
      const restartedAt = Date.now();
      child = start(role, env);
      const after = `after restart ${round}`;
      let firstAcceptedMs: number | null = null;
      let cpuAtFirstAcceptedMs: number | null = null;
      if (hasGateway) {
        firstAcceptedMs = await timeUntil(restartedAt, () => post(after));
        cpuAtFirstAcceptedMs = cpuTimeMs(child.pid);
      } else {
        await produce(after);
      }
      const storedAgainMs = hasWriter ? await timeUntil(restartedAt, () => stored(after)) : null;
      const readyMs = await timeUntil(restartedAt, ready);
      if (readyMs === null) throw new Error(`${role}: not ready again`);
      rounds.push({ firstAcceptedMs, cpuAtFirstAcceptedMs, storedAgainMs, readyMs });
      log(
        `${role} round ${round + 1}: first 202 ${firstAcceptedMs ?? '-'} ms (CPU ${cpuAtFirstAcceptedMs ?? '-'} ms), ` +
          `stored again ${storedAgainMs ?? '-'} ms, ready ${readyMs} ms`,
      );
    }
    await kill(child);
  } finally {
    await producer.disconnect();
    await db.end();
    const { events, metrics, dlq } = config.kafka.topics;
    await deleteTopics(kafka, [events, metrics, dlq]).catch(() => {});
    await dropDatabase(url, dbName).catch(() => {});
  }
  return rounds;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};
const show = (values: (number | null)[]) => {
  const known = values.filter((v): v is number => v !== null);
  if (known.length === 0) return '–';
  const seconds = (v: number) => (v / 1000).toFixed(1);
  return `${seconds(median(known))} s (${known.map(seconds).join(', ')})`;
};

const results: [Scenario, Round[]][] = [];
for (const role of SCENARIOS) results.push([role, await scenario(role)]);
console.log(
  `\nrestart after SIGKILL, session timeout ${SESSION_TIMEOUT_MS} ms, ${ROUNDS} round(s), nice ${NICE ?? 0}, ` +
    `load average at the end ${loadAverage()}; median (each round):\n`,
);
console.log('| process | first 202 | CPU used by then | stored again | /readyz 200 |');
console.log('|---|---|---|---|---|');
for (const [role, rounds] of results) {
  const cells = [
    rounds.map((r) => r.firstAcceptedMs),
    rounds.map((r) => r.cpuAtFirstAcceptedMs),
    rounds.map((r) => r.storedAgainMs),
    rounds.map((r) => r.readyMs),
  ];
  const name = role === 'all' ? 'all-in-one' : `${role} only`;
  console.log(`| ${name} | ${cells.map(show).join(' | ')} |`);
}
process.exit(0);
