/**
 * Per-test isolation: every test file gets its own database (migrated), its own topics and consumer groups, and
 * a Config pointing at them, so files run in parallel against one broker and one server without interfering.
 */
import crypto from 'node:crypto';
import type { Kafka as KafkaJS, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { loadConfig, type Config } from '../../shared/config.ts';
import { ensureDatabase, dropDatabase } from '../../shared/db/ensure-database.ts';
import { migrate } from '../../shared/db/migrate.ts';
import { createPool, type Pool } from '../../shared/db/pool.ts';
import { createKafka, type Kafka } from '../../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../../shared/kafka/topics.ts';
import { createLogger, type Logger } from '../../shared/logger.ts';
import { signToken } from '../../shared/auth/tokens.ts';
import type { UserRole } from '../../shared/auth/policy.ts';
import { startRuntime, type Runtime } from '../../bin/runtime.ts';
import { kafkajsClient } from './kafkajs.ts';

export interface TestContext {
  id: string;
  env: Record<string, string>;
  config: Config;
  logger: Logger;
  /** vigil's handle (as the roles build theirs). */
  kafka: Kafka;
  /** A KafkaJS client: tests playing a producer, reader or admin outside vigil. */
  kafkajs: KafkaJS;
  /** A pool on the test's database for assertions. */
  db: Pool;
  token(role: UserRole, sub?: string): string;
  /** A connected producer with Kafka's default partitioner (a direct producer's), disconnected by cleanup(). */
  producer(): Promise<Producer>;
  /** Starts the given roles in-process against the test's database and topics. */
  start(roles: string, overrides?: Record<string, string>): Promise<Runtime>;
  cleanup(): Promise<void>;
}

export async function createTestContext(overrides: Record<string, string> = {}): Promise<TestContext> {
  const id = `t${Date.now().toString(36)}${crypto.randomBytes(3).toString('hex')}`;
  const base = loadConfig(process.env);
  const url = new URL(base.database.url);
  url.pathname = `/vigil_${id}`;
  const env: Record<string, string> = {
    DATABASE_URL: url.toString(),
    KAFKA_BROKERS: base.kafka.brokers.join(','),
    KAFKA_TOPIC_EVENTS: `test.${id}.events`,
    KAFKA_TOPIC_METRICS: `test.${id}.metrics`,
    KAFKA_TOPIC_DLQ: `test.${id}.dlq`,
    KAFKA_TOPIC_PARTITIONS: '3',
    WRITER_GROUP_ID: `test-${id}-writer`,
    ALERTER_GROUP_ID: `test-${id}-alerter`,
    WRITER_BATCH_MAX_WAIT_MS: '50',
    DATABASE_POOL_MAX: '4',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    PORT: '0',
    // As a deployment should run: the writer stores the gateway's sealed records without validating them again.
    KAFKA_SEAL_SECRET: `test seal secret of ${id}, longer than 32 bytes`,
    ...overrides,
  };
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel, `test-${id}`);
  await ensureDatabase(config.database.url);
  await migrate(config.database.url);
  const kafka = createKafka(config.kafka, 'test');
  await ensureTopics(kafka, config.kafka);
  const kafkajs = kafkajsClient(config.kafka.brokers, `test-${id}`);
  const db = createPool(config.database.url, 2, 'vigil-test');
  const runtimes: Runtime[] = [];
  const producers: Producer[] = [];

  return {
    id,
    env,
    config,
    logger,
    kafka,
    kafkajs,
    db,
    token: (role, sub = crypto.randomUUID()) => signToken(config.auth, { role, sub, ttlSeconds: 600 }),
    async producer() {
      const producer = kafkajs.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      producers.push(producer);
      return producer;
    },
    async start(roles, more = {}) {
      const runtime = await startRuntime(loadConfig({ ...env, ...more, VIGIL_ROLES: roles }), logger);
      runtimes.push(runtime);
      const stop = runtime.stop.bind(runtime);
      let stopped = false;
      runtime.stop = async () => {
        if (stopped) return;
        stopped = true;
        await stop();
      };
      return runtime;
    },
    async cleanup() {
      for (const producer of producers) await producer.disconnect().catch(() => {});
      for (const runtime of runtimes) await runtime.stop().catch(() => {});
      await db.end();
      await deleteTopics(kafka, [
        config.kafka.topics.events,
        config.kafka.topics.metrics,
        config.kafka.topics.dlq,
      ]).catch(() => {});
      await dropDatabase(config.database.url, `vigil_${id}`).catch(() => {});
    },
  };
}

/** Polls `probe` until it returns a value accepted by `done`, or fails after timeoutMs with the last value. */
export async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await probe();
    if (done(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function countRows(db: Pool, sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: string }>(sql, values);
  return Number(rows[0].n);
}

/**
 * Per Kafka partition of `topic`: the rows the writer counted in ingest_totals and the offset it committed. With one
 * item per record and no dead letters the two agree exactly, which proves the totals moved with the offsets.
 */
export async function totalsAndOffsets(
  db: Pool,
  kind: 'event' | 'metric',
  topic: string,
): Promise<{ totals: Record<number, number>; offsets: Record<number, number> }> {
  const totals = await db.query<{ partition: number; n: string }>(
    'SELECT partition, sum(count) AS n FROM ingest_totals WHERE kind = $1 GROUP BY partition',
    [kind],
  );
  const offsets = await db.query<{ partition: number; n: string }>(
    'SELECT partition, next_offset AS n FROM consumer_offsets WHERE topic = $1',
    [topic],
  );
  const byPartition = (rows: { partition: number; n: string }[]) =>
    Object.fromEntries(rows.map((r) => [r.partition, Number(r.n)]));
  return { totals: byPartition(totals.rows), offsets: byPartition(offsets.rows) };
}

/**
 * Waits until the writer's offsets in PostgreSQL (moved in the same transaction as the rows) reach the end of every
 * partition of `topic` as it is now: from then on nothing the topic holds is still to be stored, so row counts are
 * final and a duplicate would already show. Use it instead of sleeping "long enough" before counting.
 */
export async function waitForWriterAtEnd(ctx: TestContext, topic: string, timeoutMs = 30_000): Promise<void> {
  const admin = ctx.kafkajs.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  await waitFor(
    () => totalsAndOffsets(ctx.db, 'event', topic).then((r) => r.offsets),
    (stored) => ends.every((p) => p.high === p.low || stored[p.partition] === Number(p.high)),
    timeoutMs,
  );
}
