/**
 * Alert benchmarks, results in bench/README.md:
 *
 *   throughput  the evaluation core in-process (no Kafka, no PostgreSQL): 1,000 rules over 10,000 series (10 metric
 *               names × 1,000 series; rules mix plain thresholds, avg/max/min_over_time[1m], rate[1m] and sum by),
 *               fed in batches of 500 samples as the consumer hands them over, each batch followed by the
 *               incremental evaluation, plus a full tick every simulated second. Values are random walks (±2 per
 *               sample within 0..100; counters for the rate rules), so thresholds are crossed now and then, not on
 *               every sample. Reports samples/s with and without the ticks, and tick times.
 *   drain       the real alerter role (same rules) consuming a burst of BENCH_DRAIN_SAMPLES (200,000) samples of the
 *               10,000 series produced while it runs: its sustained rate through KafkaJS, decoding, evaluation and
 *               PostgreSQL, measured from the first sample produced to the last offset committed.
 *   latency     the real alerter role against the real broker and PostgreSQL: the same 1,000 rules, steady ingest
 *               of the 10,000 series (BENCH_RATE samples/s, default 2,000), and probe samples of new series for a
 *               `for: 0` rule, one every 200 ms; latency = the transition row's commit time (created_at) − the
 *               probe's produce time. Target p99 < 2 s.
 *
 *   node --import tsx bench/alert.ts                       # both
 *   BENCH_SCENARIO=throughput node --import tsx bench/alert.ts
 *   BENCH_SCENARIO=latency BENCH_RATE=5000 BENCH_PROBES=150 node --import tsx bench/alert.ts
 */
import crypto from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { Partitioners } from 'kafkajs';
import { startRuntime } from '../bin/runtime.ts';
import { AlertEngine } from '../services/alerter/engine/engine.ts';
import { compileQuery } from '../shared/promql/compile.ts';
import type { EngineRule } from '../services/alerter/rules/rule.ts';
import { loadConfig } from '../shared/config.ts';
import { dropDatabase, ensureDatabase } from '../shared/db/ensure-database.ts';
import { migrate } from '../shared/db/migrate.ts';
import { kafkajsClient } from '../test/helpers/kafkajs.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { createLogger } from '../shared/logger.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { seriesFingerprint } from '../shared/schemas/metric.ts';

const SCENARIO = process.env.BENCH_SCENARIO ?? 'all';
const NAMES = 10;
const PER_NAME = 1000;
const RULES = 1000;
const log = (line: string) => console.error(`[alert-bench] ${line}`);

/** A deterministic PRNG, so runs compare. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

function ruleQueries(): string[] {
  const queries: string[] = [];
  for (let r = 0; r < RULES; r++) {
    const sel = `bench_m${r % NAMES}{svc="s${Math.floor(r / NAMES) % 100}"}`;
    switch (r % 10) {
      case 0:
      case 1:
      case 2:
        queries.push(`${sel} > 90`);
        break;
      case 3:
      case 4:
        queries.push(`avg_over_time(${sel}[1m]) > 90`);
        break;
      case 5:
      case 6:
        queries.push(`max_over_time(${sel}[1m]) > 99`);
        break;
      case 7:
        queries.push(`rate(${sel}[1m]) > 5`);
        break;
      case 8:
        queries.push(`min_over_time(${sel}[1m]) > 50`);
        break;
      default:
        queries.push(`sum by (svc) (${sel}) > 900`);
    }
  }
  return queries;
}

const seriesLabels = (n: number, j: number) => ({ instance: `i${j}`, svc: `s${j % 100}`, name: `bench_m${n}` });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function throughput(): Promise<void> {
  const engine = new AlertEngine({ lookbackMs: 300_000, isReady: () => true });
  const now0 = Date.now();
  const rules: EngineRule[] = ruleQueries().map((query, i) => ({
    id: crypto.randomUUID(),
    name: `r${i}`,
    description: null,
    query,
    threshold_value: null,
    forMs: 30_000,
    keepFiringForMs: 0,
    severity: 'medium',
    labels: {},
    annotations: {},
    enabled: true,
    createdBy: null,
    createdAt: new Date(),
    updatedAt: new Date(),
    revision: '1',
    ...compileQuery({ query, threshold_value: null }, { maxRangeMs: 3_600_000 }),
  }));
  engine.setRules(rules, now0);
  const random0 = rng(1);
  const series = [];
  for (let n = 0; n < NAMES; n++)
    for (let j = 0; j < PER_NAME; j++) {
      const { name, ...labels } = seriesLabels(n, j);
      series.push({ name, labels, counter: 0, level: 100 * random0() });
    }
  const random = rng(42);
  const SCRAPES = Number(process.env.BENCH_SCRAPES ?? 60); // every series once per simulated 10 s
  const BATCH = 500;
  const origin = { topic: 'm', partition: 0 };
  let transitions = 0;
  let ingestNs = 0n;
  const tickMs: number[] = [];
  let t = now0;
  let nextTick = now0 + 1000;
  const started = process.hrtime.bigint();
  for (let scrape = 0; scrape < SCRAPES; scrape++) {
    for (let i = 0; i < series.length; i += BATCH) {
      const batchStarted = process.hrtime.bigint();
      for (let k = i; k < Math.min(i + BATCH, series.length); k++) {
        const s = series[k];
        s.counter += random() * 10;
        s.level = Math.min(100, Math.max(0, s.level + (random() - 0.5) * 4));
        const value = k % 10 === 7 ? s.counter : s.level;
        engine.ingestMetric(s.name, s.labels, t, value, origin, true);
      }
      t += (10_000 * BATCH) / series.length; // 10 s of simulated time per pass over all series
      transitions += engine.evaluateTouched(t).transitions.length;
      ingestNs += process.hrtime.bigint() - batchStarted;
      while (t >= nextTick) {
        const tickStarted = process.hrtime.bigint();
        transitions += engine.evaluateAll(nextTick).transitions.length;
        engine.prune(nextTick);
        tickMs.push(Number(process.hrtime.bigint() - tickStarted) / 1e6);
        nextTick += 1000;
      }
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const samples = SCRAPES * series.length;
  tickMs.sort((a, b) => a - b);
  log(
    `throughput: ${RULES} rules × ${series.length} series, ${samples} samples in ${seconds.toFixed(2)} s (including ` +
      `${tickMs.length} ticks)`,
  );
  console.log(
    JSON.stringify({
      scenario: 'throughput',
      rules: RULES,
      series: series.length,
      samples,
      seconds: +seconds.toFixed(2),
      samples_per_second: Math.round(samples / seconds),
      ingest_only_samples_per_second: Math.round(samples / (Number(ingestNs) / 1e9)),
      ticks: tickMs.length,
      tick_ms: {
        p50: +percentile(tickMs, 50).toFixed(1),
        p99: +percentile(tickMs, 99).toFixed(1),
        max: +tickMs[tickMs.length - 1].toFixed(1),
      },
      transitions,
      window_series: engine.windows.seriesCount,
      instances: engine.instanceCount,
    }),
  );
}

async function setup() {
  const id = crypto.randomBytes(4).toString('hex');
  const dbName = 'vigil_bench_alert';
  const url = `postgres://postgres@127.0.0.1:5432/${dbName}`;
  await dropDatabase(url, dbName).catch(() => {});
  await ensureDatabase(url);
  await migrate(url);
  const env = {
    DATABASE_URL: url,
    KAFKA_TOPIC_EVENTS: `bench.${id}.events`,
    KAFKA_TOPIC_METRICS: `bench.${id}.metrics`,
    KAFKA_TOPIC_DLQ: `bench.${id}.dlq`,
    KAFKA_TOPIC_PARTITIONS: '6',
    ALERTER_GROUP_ID: `bench-${id}-alerter`,
    LOG_LEVEL: 'warn',
    PORT: '0',
  };
  const logger = createLogger('warn');
  const config = loadConfig({ ...env, VIGIL_ROLES: 'alerter' });
  const kafka = createKafka(config.kafka, 'bench');
  await ensureTopics(kafka, config.kafka);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const queries = [...ruleQueries(), 'bench_probe > 0'];
  await db.query(
    `INSERT INTO alert_rules (id, name, query, for_seconds) SELECT gen_random_uuid(), 'r' || ord, q, CASE WHEN q =
       'bench_probe > 0' THEN 0 ELSE 30 END
       FROM unnest($1::text[]) WITH ORDINALITY AS u(q, ord)`,
    [queries],
  );
  const runtime = await startRuntime(config, logger);
  const codec = loadCodecs().get('Metric')!;
  const producer = kafkajsClient(config.kafka.brokers, 'bench').producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const headers = { 'vigil-schema': codec.schemaId, 'vigil-producer': 'bench' };
  const message = (name: string, labels: Record<string, string>, value: number, timestamp: number) => ({
    key: seriesFingerprint(name, labels),
    value: codec.encode({
      id: crypto.randomUUID(),
      name,
      metric_type: 'gauge',
      value,
      labels,
      timestamp,
      created_by: 'bench',
    }),
    headers,
  });
  await new Promise((r) => setTimeout(r, 3000)); // group join
  const cleanup = async () => {
    await producer.disconnect();
    await runtime.stop();
    await db.end();
    await deleteTopics(kafka, [config.kafka.topics.events, config.kafka.topics.metrics, config.kafka.topics.dlq]).catch(
      () => {},
    );
    await dropDatabase(url, dbName).catch(() => {});
  };
  return { kafka, config, db, runtime, producer, message, cleanup, queries };
}

/**
 * The real alerter consuming a burst produced while it runs: its sustained rate through Kafka, decode, evaluation and
 * PostgreSQL.
 */
async function drain(): Promise<void> {
  const N = Number(process.env.BENCH_DRAIN_SAMPLES ?? 200_000);
  const { config, producer, message, cleanup, queries } = await setup();
  const random = rng(9);
  const levels = Array.from({ length: NAMES * PER_NAME }, () => 100 * random());
  const admin = kafkajsClient(config.kafka.brokers, 'bench').admin();
  await admin.connect();
  const committed = async () => {
    const [topic] = await admin.fetchOffsets({
      groupId: config.alerter.groupId,
      topics: [config.kafka.topics.metrics],
    });
    return topic.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  };
  const producedAt = Date.now();
  for (let i = 0; i < N; i += 2000) {
    const batch = [];
    for (let k = i; k < Math.min(N, i + 2000); k++) {
      const n = k % NAMES;
      const j = Math.floor(k / NAMES) % PER_NAME;
      const { name, ...labels } = seriesLabels(n, j);
      levels[n * PER_NAME + j] = Math.min(100, Math.max(0, levels[n * PER_NAME + j] + (random() - 0.5) * 4));
      batch.push(message(name, labels, levels[n * PER_NAME + j], producedAt + Math.floor(k / 10)));
    }
    await producer.send({ topic: config.kafka.topics.metrics, acks: -1, messages: batch });
  }
  const produceSeconds = (Date.now() - producedAt) / 1000;
  const deadline = Date.now() + 300_000;
  for (;;) {
    const done = await committed();
    if (done >= N) break;
    if (Date.now() > deadline) throw new Error(`the alerter committed ${done} of ${N} samples within 5 minutes`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (Date.now() - producedAt) / 1000;
  await admin.disconnect();
  console.log(
    JSON.stringify({
      scenario: 'drain',
      rules: queries.length,
      series: NAMES * PER_NAME,
      samples: N,
      produce_seconds: +produceSeconds.toFixed(2),
      seconds: +seconds.toFixed(2),
      samples_per_second: Math.round(N / seconds),
    }),
  );
  await cleanup();
}

async function latency(): Promise<void> {
  const RATE = Number(process.env.BENCH_RATE ?? 2000);
  const PROBES = Number(process.env.BENCH_PROBES ?? 150);
  const { config, db, producer, message, cleanup, queries, runtime } = await setup();
  const random = rng(7);
  const levels = Array.from({ length: NAMES * PER_NAME }, () => 100 * random());
  let running = true;
  let sent = 0;
  const load = (async () => {
    const perTick = Math.max(1, Math.round(RATE / 10));
    let cursor = 0;
    while (running) {
      const started = Date.now();
      const batch = [];
      for (let i = 0; i < perTick; i++, cursor++) {
        const n = cursor % NAMES;
        const j = Math.floor(cursor / NAMES) % PER_NAME;
        const { name, ...labels } = seriesLabels(n, j);
        const at = n * PER_NAME + j;
        levels[at] = Math.min(100, Math.max(0, levels[at] + (random() - 0.5) * 4));
        batch.push(message(name, labels, levels[at], Date.now()));
      }
      await producer.send({ topic: config.kafka.topics.metrics, acks: -1, messages: batch });
      sent += batch.length;
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
    }
  })();

  await new Promise((r) => setTimeout(r, 5000)); // reach steady state
  const sentAt = new Map<string, number>();
  for (let k = 0; k < PROBES; k++) {
    const probe = `p${k}`;
    sentAt.set(probe, Date.now());
    await producer.send({
      topic: config.kafka.topics.metrics,
      acks: -1,
      messages: [message('bench_probe', { probe }, 1, Date.now())],
    });
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 3000));
  running = false;
  await load;
  const { rows } = await db.query<{ probe: string; created: number }>(
    `SELECT labels->>'probe' AS probe, (extract(epoch FROM created_at) * 1000)::float8 AS created FROM ` +
      `alert_transitions WHERE to_state = 'firing' AND labels ? 'probe'`,
  );
  const latencies = rows.map((r) => r.created - sentAt.get(r.probe)!).sort((a, b) => a - b);
  const transitions = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM alert_transitions')).rows[0].n);
  const loadSeconds = (PROBES * 200 + 8000) / 1000;
  console.log(
    JSON.stringify({
      scenario: 'latency',
      rules: queries.length,
      series: NAMES * PER_NAME,
      ingest_samples_per_second: Math.round(sent / loadSeconds),
      probes: PROBES,
      fired: latencies.length,
      transitions_total: transitions,
      latency_ms: {
        p50: Math.round(percentile(latencies, 50)),
        p99: Math.round(percentile(latencies, 99)),
        max: Math.round(latencies[latencies.length - 1]),
      },
    }),
  );
  if (process.env.BENCH_DEBUG) {
    const metrics = await runtime.registry.getMetricsAsJSON();
    for (const m of metrics.filter((x) => x.name.startsWith('vigil_alerter')))
      log(
        JSON.stringify(
          m.values.filter(
            (v) =>
              !String((v as { metricName?: string }).metricName).endsWith('_bucket') ||
              v.labels.le === 0.1 ||
              v.labels.le === 1,
          ),
        ),
      );
  }
  await cleanup();
}

log(`${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
if (SCENARIO === 'all' || SCENARIO === 'throughput') await throughput();
if (SCENARIO === 'all' || SCENARIO === 'drain') await drain();
if (SCENARIO === 'all' || SCENARIO === 'latency') await latency();
