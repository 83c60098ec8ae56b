/**
 * One sustained run of HTTP → gateway → Kafka → writer → PostgreSQL, gateway and writer as separate processes
 * (node --import tsx bin/vigil.ts --role …, as deployed) on their own topics: a load generator in this process
 * POSTs batches of 1,000 events ({"events": [...]}, BENCH_IN_FLIGHT requests in flight, default 4) until `rows` events
 * are accepted; the run ends when the writer has stored them all (its ingest_totals). Used by bench/writer-e2e.ts and
 * bench/e2e-profile.ts. With BENCH_ONE_PROCESS=1 the two roles run in one process (`--role gateway,writer`, as
 * `npm start` runs every role), and `gateway` and `writer` below are that one process. The roles share a
 * KAFKA_SEAL_SECRET, as a deployment should (the writer stores the gateway's sealed records without validating them
 * again); BENCH_SEAL=0 runs them without one.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { createLogger } from '../shared/logger.ts';
import { freePort, spawnVigil, type VigilProcess, waitVigilReady } from '../test/helpers/process.ts';
import { makeEvents } from './writer-lib.ts';

const BATCH = 1000;
/**
 * Requests the load generator keeps in flight (closed loop): the gateway answers after acks=all, so with few requests
 * in flight the rate is bound by the produce latency rather than by CPU.
 */
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 4);
const ONE_PROCESS = process.env.BENCH_ONE_PROCESS === '1';
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 100;
/** After /readyz: the writer joins its group (the gateway's readiness does not wait for it). */
const JOIN_GRACE_MS = 3000;
const STORED_POLL_MS = 20;
const SEAL_SECRET_BYTES = 48;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PipelineRun {
  /** From the first POST until the last event was accepted (202). */
  acceptedSeconds: number;
  /** From the first POST until the last event was stored. */
  storedSeconds: number;
}

export interface PipelineRoles {
  gateway: VigilProcess;
  writer: VigilProcess;
  gatewayUrl: string;
  writerUrl: string;
}

export interface PipelineHooks {
  /** More Node flags of one role (e.g. --cpu-prof). */
  nodeArgs?: Partial<Record<'gateway' | 'writer', string[]>>;
  /** Called with the running roles right before the first POST. */
  started?(roles: PipelineRoles): Promise<void> | void;
  /** Called once everything is stored, before the roles are stopped. */
  finished?(roles: PipelineRoles): Promise<void> | void;
}

export async function runPipeline(url: string, rows: number, hooks: PipelineHooks = {}): Promise<PipelineRun> {
  const id = crypto.randomBytes(4).toString('hex');
  const [port, writerPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    DATABASE_URL: url,
    KAFKA_TOPIC_EVENTS: `bench.${id}.events`,
    KAFKA_TOPIC_METRICS: `bench.${id}.metrics`,
    KAFKA_TOPIC_DLQ: `bench.${id}.dlq`,
    KAFKA_TOPIC_PARTITIONS: '6',
    WRITER_GROUP_ID: `bench-${id}`,
    WRITER_BATCH_MAX_ROWS: '5000',
    WRITER_CONCURRENCY: '2',
    PARTITION_GRANULARITY: 'day',
    LOG_LEVEL: 'warn',
  };
  if (process.env.BENCH_SEAL !== '0') env.KAFKA_SEAL_SECRET = crypto.randomBytes(SEAL_SECRET_BYTES).toString('base64');
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, createLogger('warn'), 'bench');
  await ensureTopics(kafka, config.kafka);
  const gateway = spawnVigil(
    ONE_PROCESS ? 'gateway,writer' : 'gateway',
    { ...env, PORT: String(port) },
    {
      nodeArgs: hooks.nodeArgs?.gateway,
    },
  );
  const writer = ONE_PROCESS
    ? gateway
    : spawnVigil('writer', { ...env, PORT: String(writerPort) }, { nodeArgs: hooks.nodeArgs?.writer });
  const base = `http://127.0.0.1:${port}`;
  await waitVigilReady(gateway, port, 'gateway', READY_TIMEOUT_MS);
  await sleep(JOIN_GRACE_MS);

  // Bodies built before the clock starts: the load generator should cost as little as possible.
  const events = makeEvents(rows, Date.now() - 300_000);
  const bodies: Buffer[] = [];
  for (let i = 0; i < events.length; i += BATCH) {
    bodies.push(
      Buffer.from(
        JSON.stringify({
          events: events.slice(i, i + BATCH).map((e) => ({
            event_type: e.event_type,
            source: e.source,
            level: e.level,
            message: e.message,
            tags: JSON.parse(e.tags),
            payload: JSON.parse(e.payload),
            timestamp: e.timestamp,
          })),
        }),
      ),
    );
  }
  const token = signToken(config.auth, { role: 'user', sub: 'bench', ttlSeconds: 3600 });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  // Rows stored by the writer (a record carries a bundle of events: offsets count records, not rows).
  const stored = async () =>
    Number(
      (await db.query<{ n: string }>("SELECT coalesce(sum(count), 0) AS n FROM ingest_totals WHERE kind = 'event'"))
        .rows[0].n,
    );
  const storedBefore = await stored();

  const writerUrl = ONE_PROCESS ? base : `http://127.0.0.1:${writerPort}`;
  const roles: PipelineRoles = { gateway, writer, gatewayUrl: base, writerUrl };
  await hooks.started?.(roles);
  // node:http on kept-alive connections with bodies encoded beforehand: the load generator shares the two cores
  // with the pipeline, and fetch() cost it about twice the CPU per request.
  const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const post = (body: Buffer) =>
    new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
      const req = http.request(
        `${base}/api/v1/monitoring/events`,
        {
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': body.length,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < bodies.length; i = next++) {
        for (;;) {
          const res = await post(bodies[i]);
          if (res.status === 202) break;
          if (res.status !== 429 && res.status !== 503) throw new Error(`POST answered ${res.status}`);
          await sleep(Number(res.retryAfter ?? 1) * POLL_MS);
        }
      }
    }),
  );
  agent.destroy();
  const accepted = performance.now();
  while ((await stored()) - storedBefore < rows) await sleep(STORED_POLL_MS);
  const finished = performance.now();
  await hooks.finished?.(roles);
  await db.end();
  const processes = [...new Set([gateway, writer])];
  for (const p of processes) p.child.kill('SIGTERM');
  await Promise.all(processes.map((p) => p.exited));
  await deleteTopics(kafka, [env.KAFKA_TOPIC_EVENTS, env.KAFKA_TOPIC_METRICS, env.KAFKA_TOPIC_DLQ]).catch(() => {});
  return { acceptedSeconds: (accepted - started) / 1000, storedSeconds: (finished - started) / 1000 };
}
