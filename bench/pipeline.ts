/**
 * One sustained run of HTTP → gateway → Kafka → writer → PostgreSQL, gateway and writer as separate processes
 * (node --import tsx bin/vigil.ts --role …, as deployed) on their own topics: a load generator in this process
 * POSTs batches of 1,000 events ({"events": [...]}, BENCH_IN_FLIGHT requests in flight, default 4) until `rows` events
 * are accepted; the run ends when the writer has stored them all (its ingest_totals). Used by bench/writer-e2e.ts and
 * bench/e2e-profile.ts. With BENCH_ONE_PROCESS=1 the two roles run in one process (`--role gateway,writer`, as
 * `npm start` runs every role), and `gateway` and `writer` below are that one process. The roles share a
 * KAFKA_SEAL_SECRET, as a deployment should (the writer stores the gateway's sealed records without validating them
 * again); BENCH_SEAL=0 runs them without one.
 *
 * The roles are measured warm, as a running deployment is: BENCH_WARMUP_ROWS events (default 50,000) go through the
 * same path first, and the clock (and the `started` hook) starts once they are stored. Cold processes spend their
 * first second in the JIT's lower tiers, growing their heaps and joining the writer's group, which a 200,000-event
 * measurement of ~4 s would otherwise charge to throughput. BENCH_WARMUP_ROWS=0 measures from cold.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { freePort, spawnVigil, type VigilProcess, waitVigilReady } from '../test/helpers/process.ts';
import { makeEvents } from './writer-lib.ts';

const BATCH = 1000;
/**
 * Requests the load generator keeps in flight (closed loop): the gateway answers after acks=all, so with few requests
 * in flight the rate is bound by the produce latency rather than by CPU.
 */
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 4);
const WARMUP_ROWS = Number(process.env.BENCH_WARMUP_ROWS ?? 50_000);
const ONE_PROCESS = process.env.BENCH_ONE_PROCESS === '1';
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 100;
/** After /readyz: the writer joins its group (the gateway's readiness does not wait for it). */
const JOIN_GRACE_MS = 3000;
const STORED_POLL_MS = 20;
/** A run whose writer stores nothing for this long has failed (a crashed role, a broker gone). */
const STALL_MS = 60_000;
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
  const kafka = createKafka(config.kafka, 'bench');
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
  // Warm, the clock starts once the warm-up is stored, which the writer's join precedes.
  if (WARMUP_ROWS === 0) await sleep(JOIN_GRACE_MS);

  // Bodies built before the clock starts: the load generator should cost as little as possible.
  const bodiesOf = (events: ReturnType<typeof makeEvents>) => {
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
    return bodies;
  };
  const warmup = bodiesOf(makeEvents(WARMUP_ROWS, Date.now() - 600_000));
  const bodies = bodiesOf(makeEvents(rows, Date.now() - 300_000));
  const token = signToken(config.auth, { role: 'user', sub: 'bench', ttlSeconds: 3600 });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  // Rows stored by the writer (a record carries a bundle of events: offsets count records, not rows).
  const stored = async () =>
    Number(
      (await db.query<{ n: string }>("SELECT coalesce(sum(count), 0) AS n FROM ingest_totals WHERE kind = 'event'"))
        .rows[0].n,
    );
  const storedInitially = await stored();

  const writerUrl = ONE_PROCESS ? base : `http://127.0.0.1:${writerPort}`;
  const roles: PipelineRoles = { gateway, writer, gatewayUrl: base, writerUrl };
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
  /** Posts every body, IN_FLIGHT at a time, each until it is answered 202. */
  const postAll = async (all: Buffer[]) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let i = next++; i < all.length; i = next++) {
          for (;;) {
            const res = await post(all[i]);
            if (res.status === 202) break;
            if (res.status !== 429 && res.status !== 503) throw new Error(`POST answered ${res.status}`);
            await sleep(Number(res.retryAfter ?? 1) * POLL_MS);
          }
        }
      }),
    );
  };
  /** Waits until `n` rows are stored; throws when none were added for STALL_MS. */
  const storedAtLeast = async (n: number) => {
    let [last, lastAt] = [await stored(), performance.now()];
    while (last < n) {
      await sleep(STORED_POLL_MS);
      const now = await stored();
      if (now > last) [last, lastAt] = [now, performance.now()];
      else if (performance.now() - lastAt > STALL_MS) {
        throw new Error(
          `the writer stored no event for ${STALL_MS / 1000} s (${last} of ${n} stored): see the writer's log above`,
        );
      }
    }
  };
  if (WARMUP_ROWS > 0) {
    await postAll(warmup);
    await storedAtLeast(storedInitially + WARMUP_ROWS);
  }
  const storedBefore = await stored();
  await hooks.started?.(roles);
  const started = performance.now();
  await postAll(bodies);
  agent.destroy();
  const accepted = performance.now();
  await storedAtLeast(storedBefore + rows);
  const finished = performance.now();
  await hooks.finished?.(roles);
  await db.end();
  const processes = [...new Set([gateway, writer])];
  for (const p of processes) p.child.kill('SIGTERM');
  await Promise.all(processes.map((p) => p.exited));
  await deleteTopics(kafka, [env.KAFKA_TOPIC_EVENTS, env.KAFKA_TOPIC_METRICS, env.KAFKA_TOPIC_DLQ]).catch(() => {});
  return { acceptedSeconds: (accepted - started) / 1000, storedSeconds: (finished - started) / 1000 };
}
