/**
 * Memory under overload: every role's memory stays bounded when offered twice what the pipeline can take.
 *
 *   node --import tsx bench/overload.ts
 *   BENCH_SECONDS=60 BENCH_FACTOR=2 BENCH_SATURATION_SECONDS=15 BENCH_CONCURRENCY=256 \
 *     BENCH_MAX_OLD_SPACE_MB=256 node --import tsx bench/overload.ts
 *
 * 1. A private database and topics (6 partitions); gateway, writer, alerter and query as separate processes
 *    (bin/vigil.ts --role …, as deployed). The alerter has a few rules over the metric samples and the events sent
 *    (and, with the query process, hosts the incidents worker). Default limits throughout: INGEST_MAX_INFLIGHT_*,
 *    the writer's batch and fetch sizes, the alerter's per-rule instance cap.
 * 2. Saturation, closed loop: BENCH_CONCURRENCY senders POST 100-item batches back to back (one request in
 *    BENCH_METRICS_EVERY carries 100 metric samples, the others 100 events) for BENCH_SATURATION_SECONDS; the
 *    pipeline's saturation rate is the lower of what the gateway acknowledged (202) and what the writer stored per
 *    second over that window. Then the writer drains what it has not stored yet.
 * 3. Overload, open loop: BENCH_FACTOR × that rate for BENCH_SECONDS, on a fixed schedule of request start times that
 *    does not wait for answers (pre-built bodies, fetch with keep-alive; answers other than 202 are not retried).
 *    Once a second: each role's RSS (/proc/<pid>/status VmRSS), its V8 heap in use and event-loop delay (p99 since
 *    the previous scrape) from its own /metrics, the writer's and the alerter's consumer lag (records), the
 *    gateway's answers; the query process serves one events page and the stats each second meanwhile.
 * 4. The writer drains; every event acknowledged with a 202 must be stored (each request's events carry its number
 *    in their message: 0 lost, 0 stored twice), and the metric samples stored must cover those acknowledged.
 *
 * Prints per role RSS at the start of the overload, its peak, at its end and after the drain, the slope of RSS over
 * the second half of the overload (MB/min: bounded is a plateau, not a ramp), heap and event-loop delay; what the
 * gateway shed; lag; lost. BENCH_MAX_OLD_SPACE_MB gives every role --max-old-space-size (a role whose heap grows
 * without bound then fails fast instead of slowly). BENCH_SAMPLES_OUT=<file> writes every sample as JSON. At most
 * BENCH_MAX_OUTSTANDING requests (default 8,000) are outstanding: a request due beyond that is counted as not sent.
 * Exit code 1 when an acknowledged event is lost or a role died.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { dropDatabase } from '../shared/db/ensure-database.ts';
import { kafkajsClient } from '../test/helpers/kafkajs.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { freePort, spawnVigil, stopVigil, type VigilProcess, waitVigilReady } from '../test/helpers/process.ts';
import { loadAverage, numberSetting as setting } from './env.ts';
import { freshDatabase } from './writer-lib.ts';

const SECONDS = setting('BENCH_SECONDS', 60);
const FACTOR = setting('BENCH_FACTOR', 2);
const SATURATION_SECONDS = setting('BENCH_SATURATION_SECONDS', 15);
const WARMUP_SECONDS = setting('BENCH_WARMUP_SECONDS', 10);
const CONCURRENCY = setting('BENCH_CONCURRENCY', 256);
/** One request in this many carries metric samples (0: events only). */
const METRICS_EVERY = setting('BENCH_METRICS_EVERY', 5);
const MAX_OLD_SPACE_MB = setting('BENCH_MAX_OLD_SPACE_MB', 0);
/**
 * Requests the open loop keeps outstanding at most (one socket each): beyond it a due request is counted as not sent
 * instead of failing in the load generator itself (EMFILE at the machine's open-file limit, seen at 20,000).
 */
const MAX_OUTSTANDING = setting('BENCH_MAX_OUTSTANDING', 8000);
const PARTITIONS = 6;
const SEAL_SECRET_BYTES = 48;
const BATCH = 100;
const TEMPLATES = 20;
const SOURCES = 20;
const SERVICES = 10;
const INSTANCES = 5;
const SAMPLE_MS = 1000;
const TICK_MS = 5;
const READY_TIMEOUT_MS = 120_000;
/** After /readyz: the consumers join their groups. */
const JOIN_GRACE_MS = 3000;
const DRAIN_TIMEOUT_MS = 300_000;
const STOP_TIMEOUT_MS = 20_000;
const SCRAPE_TIMEOUT_MS = 900;
const MB = 1024 * 1024;
const ROLES = ['gateway', 'writer', 'alerter', 'query'] as const;
type RoleName = (typeof ROLES)[number];
/** What each process hosts besides its role (bin/runtime.ts). */
const HOSTS: Record<RoleName, string> = {
  gateway: 'gateway',
  writer: 'writer',
  alerter: 'alerter (+ incidents worker)',
  query: 'query (+ incidents API and worker)',
};
/** A few rules over what the load sends: per series, over a range, an aggregation of rates, an event count. */
const RULES: [string, number][] = [
  ['overload_latency_ms > 990', 0],
  ['avg_over_time(overload_latency_ms[1m]) > 400', 10],
  ['sum by (svc) (rate(overload_requests_total[1m])) > 1', 0],
  ['count_over_time(events{level="error"}[1m]) > 10', 0],
];

/** Read traffic the query process serves once a second during the run. */
const QUERY_PATHS = [
  '/api/v1/monitoring/events?limit=100',
  '/api/v1/monitoring/stats',
  '/api/v1/monitoring/incidents?limit=20',
];

const runStarted = Date.now();
const log = (line: string) => console.error(`[overload +${((Date.now() - runStarted) / 1000).toFixed(1)}s] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
/** `3× 202, 1× 503` */
const counts = (map: Map<string, number>) =>
  [...map]
    .sort()
    .map(([s, n]) => `${fmt(n)}× ${s}`)
    .join(', ');
const mb = (bytes: number | null | undefined) => (bytes == null ? '–' : (bytes / MB).toFixed(0));

interface Role {
  name: RoleName;
  port: number;
  proc: VigilProcess;
}

/** VmRSS of a process in bytes; null once it is gone. */
function rssOf(pid: number | undefined): number | null {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.split(/\s+/)[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The sum of a metric's values (over its label sets) in a Prometheus exposition, null when absent. */
function metricSum(text: string, name: string): number | null {
  let sum: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const next = line[name.length];
    if (next !== '{' && next !== ' ') continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The gateway's Kafka acknowledgement times so far (vigil_gateway_produce_seconds): sum, count, and count ≤ 1 s. */
async function produceTimes(url: string): Promise<{ sum: number; count: number; withinSecond: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const withinSecond = text
    .split('\n')
    .filter((l) => l.startsWith('vigil_gateway_produce_seconds_bucket{') && l.includes('le="1"'))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    sum: metricSum(text, 'vigil_gateway_produce_seconds_sum') ?? 0,
    count: metricSum(text, 'vigil_gateway_produce_seconds_count') ?? 0,
    withinSecond,
  };
}

interface RoleSample {
  rss: number | null;
  /** From the role's own /metrics (null when the scrape did not answer within SCRAPE_TIMEOUT_MS). */
  heapUsed: number | null;
  loopP99Ms: number | null;
}
interface Sample {
  /** Seconds since the overload began (negative before it). */
  t: number;
  phase: string;
  roles: Record<RoleName, RoleSample>;
  lag: { writer: number | null; alerter: number | null };
  /** Answers of the gateway in the last second, by status. */
  answers: Record<string, number>;
  outstanding: number;
}

async function scrape(role: Role): Promise<RoleSample> {
  const rss = rssOf(role.proc.child.pid);
  try {
    const res = await fetch(`http://127.0.0.1:${role.port}/metrics`, {
      signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS),
    });
    const text = await res.text();
    const loop = metricSum(text, 'vigil_process_nodejs_eventloop_lag_p99_seconds');
    return {
      rss,
      heapUsed: metricSum(text, 'vigil_process_nodejs_heap_size_used_bytes'),
      loopP99Ms: loop === null ? null : loop * 1000,
    };
  } catch {
    return { rss, heapUsed: null, loopP99Ms: null };
  }
}

const waitReady = (role: Role) => waitVigilReady(role.proc, role.port, role.name, READY_TIMEOUT_MS);

const stopProcess = (proc: VigilProcess) => stopVigil(proc, STOP_TIMEOUT_MS);

/**
 * Request bodies, built before the clock starts. An events body is a template split where the request's number
 * goes (each event's message is `overload r<number> i<index>`), joined per request: the number tells which
 * requests' events were stored. Metric bodies carry 50 gauge series and 10 counters, values varying by template.
 */
function buildBodies() {
  const levels = ['info', 'info', 'info', 'warn', 'error', 'debug'];
  const types = ['log', 'log', 'log', 'trace', 'metric'];
  const MARK = '@@SEQ@@';
  const events = Array.from({ length: TEMPLATES }, (_, t) =>
    JSON.stringify(
      Array.from({ length: BATCH }, (_, i) => {
        const k = t * BATCH + i;
        return {
          event_type: types[k % types.length],
          source: `service-${String(k % SOURCES).padStart(2, '0')}`,
          level: levels[(k >> 1) % levels.length],
          message: `overload r${MARK} i${i}`,
          tags: { service: 'api', environment: 'bench', request_id: `req-${k}` },
          payload: { duration_ms: k % 1000, status: 200, path: '/api/users' },
        };
      }),
    ).split(MARK),
  );
  const random = mulberry(7);
  const metrics = Array.from({ length: TEMPLATES }, () => {
    const samples: object[] = [];
    for (let s = 0; s < SERVICES; s++) {
      for (let i = 0; i < INSTANCES; i++) {
        const labels = { svc: `s${s}`, instance: `i${i}` };
        samples.push({ name: 'overload_latency_ms', metric_type: 'gauge', value: Math.round(random() * 1000), labels });
      }
    }
    while (samples.length < BATCH) {
      const svc = `s${samples.length % SERVICES}`;
      samples.push({ name: 'overload_requests_total', metric_type: 'counter', value: 1, labels: { svc } });
    }
    return JSON.stringify(samples);
  });
  return {
    /** The body of request `seq`, and whether it carries metric samples. */
    body(seq: number): { metrics: boolean; text: string } {
      const t = seq % TEMPLATES;
      if (METRICS_EVERY > 0 && seq % METRICS_EVERY === METRICS_EVERY - 1) return { metrics: true, text: metrics[t] };
      return { metrics: false, text: events[t].join(String(seq)) };
    },
  };
}

function mulberry(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Sends requests, records every answer: acknowledged events by request number, metric samples by count. */
class LoadGenerator {
  readonly acknowledgedEvents = new Set<number>();
  /** Event requests answered otherwise (their events may or may not be stored: a 503 after Kafka took them). */
  readonly unacknowledgedEvents = new Set<number>();
  acknowledgedSamples = 0;
  unacknowledgedSamples = 0;
  outstanding = 0;
  maxOutstanding = 0;
  /** Answers since the last take(), and over the whole phase. */
  private window = new Map<string, number>();
  readonly phaseAnswers = new Map<string, number>();
  readonly latencies: number[] = [];
  readonly retryAfter = new Map<string, number>();
  private nextSeq = 0;
  private readonly bodies = buildBodies();

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** One request; resolves once it is answered. */
  async send(): Promise<void> {
    const seq = this.nextSeq++;
    const { metrics, text } = this.bodies.body(seq);
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    const started = performance.now();
    let status: string;
    try {
      const res = await fetch(`${this.url}/api/v1/monitoring/${metrics ? 'metrics' : 'events'}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: text,
      });
      await res.arrayBuffer();
      status = String(res.status);
      if (res.status !== 202) {
        const after = `${res.status} Retry-After: ${res.headers.get('retry-after') ?? 'none'}`;
        this.retryAfter.set(after, (this.retryAfter.get(after) ?? 0) + 1);
      }
    } catch (error) {
      status = (error as { cause?: { code?: string } }).cause?.code ?? 'network error';
    }
    this.outstanding--;
    this.window.set(status, (this.window.get(status) ?? 0) + 1);
    this.phaseAnswers.set(status, (this.phaseAnswers.get(status) ?? 0) + 1);
    if (status === '202') {
      this.latencies.push(performance.now() - started);
      if (metrics) this.acknowledgedSamples += BATCH;
      else this.acknowledgedEvents.add(seq);
    } else if (metrics) this.unacknowledgedSamples += BATCH;
    else this.unacknowledgedEvents.add(seq);
  }

  take(): Record<string, number> {
    const answers = Object.fromEntries(this.window);
    this.window = new Map();
    return answers;
  }

  resetPhase(): void {
    this.phaseAnswers.clear();
    this.latencies.length = 0;
    this.retryAfter.clear();
  }

  acknowledgedItems(): number {
    return this.acknowledgedEvents.size * BATCH + this.acknowledgedSamples;
  }
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

/** Least-squares slope of (t seconds, y bytes), in MB per minute. */
function slopeMbPerMin(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mt = points.reduce((s, [t]) => s + t, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, y] of points) {
    num += (t - mt) * (y - my);
    den += (t - mt) ** 2;
  }
  return ((num / den) * 60) / MB;
}

async function main(cleanup: (() => Promise<unknown>)[]): Promise<number> {
  const id = crypto.randomBytes(4).toString('hex');
  const cpu = os.cpus();
  log(`run ${id}: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, node ${process.version}, load ${loadAverage()}`);
  const dbName = `vigil_bench_overload_${id}`;
  const url = await freshDatabase(dbName);
  cleanup.push(() => dropDatabase(url, dbName));
  const env: Record<string, string> = {
    DATABASE_URL: url,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    KAFKA_TOPIC_EVENTS: `bench.${id}.events`,
    KAFKA_TOPIC_METRICS: `bench.${id}.metrics`,
    KAFKA_TOPIC_DLQ: `bench.${id}.dlq`,
    KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
    WRITER_GROUP_ID: `bench-${id}-writer`,
    ALERTER_GROUP_ID: `bench-${id}-alerter`,
    // As a deployment should run: the writer stores the gateway's sealed records without validating them again.
    KAFKA_SEAL_SECRET: crypto.randomBytes(SEAL_SECRET_BYTES).toString('base64'),
  };
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, 'bench');
  await ensureTopics(kafka, config.kafka);
  const { events: eventsTopic, metrics: metricsTopic, dlq } = config.kafka.topics;
  cleanup.push(() => deleteTopics(kafka, [eventsTopic, metricsTopic, dlq]));
  const db = new pg.Pool({ connectionString: url, max: 2 });
  cleanup.push(() => db.end());
  await db.query(
    `INSERT INTO alert_rules (id, name, query, for_seconds)
     SELECT gen_random_uuid(), 'overload ' || ord, q, f
     FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS u(q, f, ord)`,
    [RULES.map(([q]) => q), RULES.map(([, f]) => f)],
  );

  const nodeArgs = MAX_OLD_SPACE_MB > 0 ? [`--max-old-space-size=${MAX_OLD_SPACE_MB}`] : [];
  const roles: Role[] = [];
  for (const name of ROLES) {
    const port = await freePort();
    const proc = spawnVigil(name, { ...env, PORT: String(port) }, { nodeArgs });
    cleanup.push(() => stopProcess(proc));
    roles.push({ name, port, proc });
  }
  await Promise.all(roles.map(waitReady));
  await sleep(JOIN_GRACE_MS);
  const role = (name: RoleName) => roles.find((r) => r.name === name)!;
  log(`roles ready: ${roles.map((r) => `${r.name} pid ${r.proc.child.pid}`).join(', ')}`);

  const token = signToken(config.auth, { role: 'user', sub: 'overload', ttlSeconds: 3600 });
  const reader = signToken(config.auth, { role: 'moderator', sub: 'overload-reader', ttlSeconds: 3600 });
  const gatewayUrl = `http://127.0.0.1:${role('gateway').port}`;
  const queryUrl = `http://127.0.0.1:${role('query').port}`;
  const admin = kafkajsClient(config.kafka.brokers, 'bench').admin();
  await admin.connect();
  cleanup.push(() => admin.disconnect());
  const topics = [eventsTopic, metricsTopic];
  const lagOf = async (groupId: string): Promise<number | null> => {
    try {
      const [committed, ...highs] = await Promise.all([
        admin.fetchOffsets({ groupId, topics }),
        ...topics.map((topic) => admin.fetchTopicOffsets(topic)),
      ]);
      let lag = 0;
      topics.forEach((topic, i) => {
        const done = committed.find((c) => c.topic === topic)?.partitions ?? [];
        for (const p of highs[i]) {
          const at = Number(done.find((d) => d.partition === p.partition)?.offset ?? -1);
          // The two answers are moments apart: an offset committed in between is not negative lag.
          lag += Math.max(0, Number(p.high) - Math.max(0, at));
        }
      });
      return lag;
    } catch {
      return null;
    }
  };
  const storedItems = async () =>
    Number((await db.query<{ n: string }>('SELECT coalesce(sum(count), 0) AS n FROM ingest_totals')).rows[0].n);
  // Alerts the dispatcher sends become events too: the drain waits for the topics, not for a count.
  const drain = async (what: string) => {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    let last = -1;
    for (;;) {
      const lag = await lagOf(config.writer.groupId);
      if (lag === 0) return;
      if (Date.now() > deadline) throw new Error(`the writer did not drain ${what} within ${DRAIN_TIMEOUT_MS} ms`);
      if (lag !== last) log(`drain (${what}): writer lag ${lag} records`);
      last = lag ?? last;
      await sleep(SAMPLE_MS);
    }
  };

  const samples: Sample[] = [];
  const load = new LoadGenerator(gatewayUrl, token);
  let phase = 'idle';
  let overloadStarted = Infinity;
  let sampling = true;
  const queryAnswers = new Map<string, number>();
  const sampler = (async () => {
    while (sampling) {
      const tick = Date.now();
      const [scraped, writerLag, alerterLag] = await Promise.all([
        Promise.all(roles.map(scrape)),
        lagOf(config.writer.groupId),
        lagOf(config.alerter.groupId),
        // The query process serves a little read traffic meanwhile.
        ...QUERY_PATHS.map((path) =>
          fetch(`${queryUrl}${path}`, {
            headers: { authorization: `Bearer ${reader}` },
            signal: AbortSignal.timeout(SAMPLE_MS * 5),
          }).then(
            async (res) => {
              await res.arrayBuffer();
              queryAnswers.set(String(res.status), (queryAnswers.get(String(res.status)) ?? 0) + 1);
            },
            () => queryAnswers.set('error', (queryAnswers.get('error') ?? 0) + 1),
          ),
        ),
      ]);
      const sample: Sample = {
        t: (tick - overloadStarted) / 1000,
        phase,
        roles: Object.fromEntries(roles.map((r, i) => [r.name, scraped[i]])) as Record<RoleName, RoleSample>,
        lag: { writer: writerLag, alerter: alerterLag },
        answers: load.take(),
        outstanding: load.outstanding,
      };
      samples.push(sample);
      const rss = roles.map((r) => `${r.name} ${mb(sample.roles[r.name].rss)}`).join(' ');
      const answers = Object.entries(sample.answers)
        .map(([s, n]) => `${n}×${s}`)
        .join(' ');
      log(
        `${phase} t=${sample.t > -1e6 ? sample.t.toFixed(0) : '–'} RSS MB: ${rss}; lag writer ${writerLag} ` +
          `alerter ${alerterLag}; answers ${answers || 'none'}; outstanding ${load.outstanding}`,
      );
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - tick)));
    }
  })();
  await sleep(2 * SAMPLE_MS);

  // Saturation: closed loop, CONCURRENCY senders back to back.
  phase = 'saturation';
  log(`saturation: ${CONCURRENCY} senders × ${BATCH} items per POST, ${WARMUP_SECONDS} s warm-up`);
  let running = true;
  const senders = Array.from({ length: CONCURRENCY }, async () => {
    while (running) await load.send();
  });
  await sleep(WARMUP_SECONDS * 1000);
  const satItems0 = load.acknowledgedItems();
  const satStored0 = await storedItems();
  const satStart = performance.now();
  load.resetPhase();
  await sleep(SATURATION_SECONDS * 1000);
  const satSeconds = (performance.now() - satStart) / 1000;
  const acceptedRate = (load.acknowledgedItems() - satItems0) / satSeconds;
  const storedRate = ((await storedItems()) - satStored0) / satSeconds;
  running = false;
  await Promise.all(senders);
  const satAnswers = new Map(load.phaseAnswers);
  const satP99 = quantile(load.latencies, 0.99);
  const saturation = Math.min(acceptedRate, storedRate);
  log(
    `saturation: accepted ${fmt(acceptedRate)} items/s, stored ${fmt(storedRate)} items/s → ${fmt(saturation)} ` +
      `items/s; 202 p99 ${satP99.toFixed(0)} ms`,
  );
  phase = 'drain-1';
  await drain('the saturation backlog');

  // Overload: open loop, a request every 1/rate s whatever the answers.
  const rate = (FACTOR * saturation) / BATCH;
  log(
    `overload: ${FACTOR} × saturation = ${fmt(rate * BATCH)} items/s (${rate.toFixed(1)} requests/s) for ${SECONDS} s`,
  );
  load.resetPhase();
  const produceBefore = await produceTimes(gatewayUrl);
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let notSent = 0;
  let maxSlip = 0;
  await new Promise<void>((resolve) => {
    overloadStarted = Date.now();
    phase = 'overload';
    const t0 = performance.now();
    const timer = setInterval(() => {
      const elapsed = (performance.now() - t0) / 1000;
      const due = Math.floor(Math.min(elapsed, SECONDS) * rate);
      maxSlip = Math.max(maxSlip, (due - sent - notSent) / rate);
      while (sent + notSent < due) {
        if (load.outstanding >= MAX_OUTSTANDING) {
          notSent++;
          continue;
        }
        sent++;
        const p = load.send().finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      if (elapsed >= SECONDS) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  const offeredSeconds = (Date.now() - overloadStarted) / 1000;
  phase = 'answers';
  await Promise.all(inFlight);
  const loadEnded = (Date.now() - overloadStarted) / 1000;
  const overloadAnswers = new Map(load.phaseAnswers);
  const overloadRetryAfter = new Map(load.retryAfter);
  const latencies = [...load.latencies];
  const produceAfter = await produceTimes(gatewayUrl);
  const produced = produceAfter.count - produceBefore.count;
  const produceMeanMs = (1000 * (produceAfter.sum - produceBefore.sum)) / Math.max(1, produced);
  const producedWithinSecond = produceAfter.withinSecond - produceBefore.withinSecond;
  phase = 'drain-2';
  const drainStarted = Date.now();
  await drain('the overload backlog');
  const drainSeconds = (Date.now() - drainStarted) / 1000;
  await sleep(2 * SAMPLE_MS);
  sampling = false;
  await sampler;

  // Every acknowledged event stored exactly once.
  const { rows } = await db.query<{ r: string; n: string }>(
    `SELECT split_part(message, ' ', 2) AS r, count(*) AS n FROM events WHERE message LIKE 'overload r%' GROUP BY 1`,
  );
  const storedPerRequest = new Map(rows.map((row) => [Number(row.r.slice(1)), Number(row.n)]));
  let lost = 0;
  let twice = 0;
  for (const seq of load.acknowledgedEvents) {
    const n = storedPerRequest.get(seq) ?? 0;
    if (n < BATCH) lost += BATCH - n;
    if (n > BATCH) twice += n - BATCH;
  }
  let storedUnacknowledged = 0;
  for (const [seq, n] of storedPerRequest) if (!load.acknowledgedEvents.has(seq)) storedUnacknowledged += n;
  const storedSamples = Number(
    (await db.query<{ n: string }>("SELECT count(*) AS n FROM metrics WHERE name LIKE 'overload_%'")).rows[0].n,
  );
  const samplesShort = Math.max(0, load.acknowledgedSamples - storedSamples);
  const samplesOver = Math.max(0, storedSamples - load.acknowledgedSamples - load.unacknowledgedSamples);
  const died = roles.filter((r) => r.proc.child.exitCode !== null || r.proc.child.signalCode !== null);

  if (process.env.BENCH_SAMPLES_OUT) fs.writeFileSync(process.env.BENCH_SAMPLES_OUT, JSON.stringify(samples));

  // Report.
  const over = samples.filter((s) => s.phase === 'overload');
  const secondHalf = over.filter((s) => s.t >= SECONDS / 2);
  const firstHalf = over.filter((s) => s.t < SECONDS / 2);
  const atStart = samples.filter((s) => s.phase === 'drain-1').at(-1) ?? over[0];
  const afterDrain = samples.at(-1)!;
  const endOfLoad = over.at(-1)!;
  const idle = samples.find((s) => s.phase === 'idle');
  const max = (values: (number | null)[]) => Math.max(...values.filter((v): v is number => v !== null));
  console.log(
    `\noverload run ${id}: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, node ${process.version}; ${PARTITIONS} ` +
      `partitions; batches of ${BATCH} (1 in ${METRICS_EVERY || '∞'} requests metric samples, the rest events); ` +
      `default limits (INGEST_MAX_INFLIGHT_REQUESTS ${config.ingest.maxInFlightRequests}, ` +
      `INGEST_MAX_INFLIGHT_BYTES ${mb(config.ingest.maxInFlightBytes)} MB, WRITER_BATCH_MAX_ROWS ` +
      `${config.writer.batchMaxRows}, ALERTER_MAX_INSTANCES_PER_RULE ${config.alerter.maxInstancesPerRule})` +
      `${MAX_OLD_SPACE_MB > 0 ? `, --max-old-space-size=${MAX_OLD_SPACE_MB}` : ''}; ${RULES.length} alert rules; ` +
      `load average at the end ${loadAverage()}\n`,
  );
  console.log(
    `saturation (closed loop, ${CONCURRENCY} senders, ${satSeconds.toFixed(0)} s): accepted ${fmt(acceptedRate)} ` +
      `items/s, stored ${fmt(storedRate)} items/s → **${fmt(saturation)} items/s**; answers ` +
      `${counts(satAnswers)}; 202 p99 ${satP99.toFixed(0)} ms`,
  );
  const offered = sent * BATCH;
  const acknowledgedOver = overloadAnswers.get('202') ?? 0;
  console.log(
    `overload (open loop, ${FACTOR} × saturation = ${fmt(rate * BATCH)} items/s, ${offeredSeconds.toFixed(0)} s): ` +
      `offered ${fmt(offered)} items in ${fmt(sent)} requests (${fmt(notSent)} more not sent: ${MAX_OUTSTANDING} ` +
      `outstanding already; schedule slipped at most ` +
      `${(maxSlip * 1000).toFixed(0)} ms); answers ${counts(overloadAnswers)} ` +
      `(${((100 * acknowledgedOver) / Math.max(1, sent)).toFixed(0)}% acknowledged = ` +
      `${fmt((acknowledgedOver * BATCH) / offeredSeconds)} items/s); refusals: ` +
      `${counts(overloadRetryAfter) || 'none'}; 202 latency p50 ` +
      `${quantile(latencies, 0.5).toFixed(0)} ms, p99 ${quantile(latencies, 0.99).toFixed(0)} ms; client requests ` +
      `outstanding at most ${load.maxOutstanding}; last answer ${loadEnded.toFixed(1)} s after the start; ` +
      `writer drained ${drainSeconds.toFixed(0)} s after the last answer; Kafka acknowledged ${fmt(produced)} ` +
      `requests' records in ${produceMeanMs.toFixed(0)} ms on average ` +
      `(${((100 * producedWithinSecond) / Math.max(1, produced)).toFixed(0)}% within 1 s)`,
  );
  console.log(
    `stored: ${fmt(load.acknowledgedEvents.size * BATCH)} events acknowledged (202) over the run → lost **${lost}**, ` +
      `stored twice ${twice}, stored without a 202 ${storedUnacknowledged}; metric samples ${fmt(storedSamples)} ` +
      `stored for ${fmt(load.acknowledgedSamples)} acknowledged (short ${samplesShort}, more than sent ` +
      `${samplesOver}); ` +
      `query process answers ${counts(queryAnswers)}; ` +
      `roles died: ${died.map((r) => r.name).join(', ') || 'none'}\n`,
  );
  console.log(
    '| process | RSS idle | RSS at overload start | peak | at the end of the load | after the drain | ' +
      'slope, 2nd half (MB/min) | peak 1st half → 2nd half | V8 heap used: start → peak → end | ' +
      'event-loop delay p99, max of 1 s windows |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of roles) {
    const rss = (s: Sample | undefined) => s?.roles[r.name].rss ?? null;
    const heap = (s: Sample | undefined) => s?.roles[r.name].heapUsed ?? null;
    const slope = slopeMbPerMin(secondHalf.filter((s) => rss(s) !== null).map((s): [number, number] => [s.t, rss(s)!]));
    console.log(
      `| ${HOSTS[r.name]} | ${mb(rss(idle))} | ${mb(rss(atStart))} | ${mb(max(over.map(rss)))} | ` +
        `${mb(rss(endOfLoad))} | ${mb(rss(afterDrain))} | ${slope.toFixed(1)} | ${mb(max(firstHalf.map(rss)))} → ` +
        `${mb(max(secondHalf.map(rss)))} | ` +
        `${mb(heap(atStart))} → ${mb(max(over.map(heap)))} → ${mb(heap(endOfLoad))} | ` +
        `${max(over.map((s) => s.roles[r.name].loopP99Ms)).toFixed(0)} ms |`,
    );
  }
  const lagMax = (key: 'writer' | 'alerter') => fmt(max(over.map((s) => s.lag[key])));
  const scrapesMissed = over.reduce((n, s) => n + ROLES.filter((name) => s.roles[name].heapUsed === null).length, 0);
  console.log(
    `\n(MB = MiB. RSS from /proc/<pid>/status; heap and event-loop delay from each process's /metrics, ` +
      `${scrapesMissed} of ${over.length * ROLES.length} scrapes unanswered within ${SCRAPE_TIMEOUT_MS} ms.) ` +
      `Consumer lag during the overload at most: writer ${lagMax('writer')} records, alerter ${lagMax('alerter')} ` +
      `records (a record carries a bundle of up to a request's items of one partition).`,
  );
  return lost === 0 && twice === 0 && samplesShort === 0 && died.length === 0 && acknowledgedOver > 0 ? 0 : 1;
}

const cleanup: (() => Promise<unknown>)[] = [];
const runCleanup = async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch((e: unknown) => log(`cleanup: ${e}`));
};
process.once('SIGINT', () => void runCleanup().then(() => process.exit(130)));
let code = 1;
try {
  code = await main(cleanup);
} catch (error) {
  log(`failed: ${(error as Error).stack ?? error}`);
} finally {
  await runCleanup();
}
process.exit(code);
