/**
 * The stream writer: consumes the events and metrics topics and stores each partition's records in batches, one
 * COPY per batch, the batch's rollup counters and consumer offset in the SAME transaction (exactly once into
 * PostgreSQL). One sink per topic (sinks.ts) says how a record becomes a row; batching, COPY, rollups, offsets,
 * dead letters and retries are shared (partition-pipeline.ts, batch-store.ts). On (re)assignment the offsets in
 * PostgreSQL win over Kafka's. Undecodable, invalid or database-rejected records go to the DLQ before the
 * transaction commits, so none vanish; a database that refuses every write (read-only, a missing grant, a full
 * disk) pauses the partitions instead, and /readyz says why (writer-status.ts). stop() stops fetching, writes what
 * is pending, then leaves the group.
 */
import type { Config } from '../../shared/config.ts';
import { NotReadyError } from '../../shared/http/readiness.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { ensureAllPartitions, PartitionCache } from '../../shared/db/partitions.ts';
import type { Kafka } from '../../shared/kafka/client.ts';
import { BatchConsumer, type BatchControl, type PartitionBatch } from '../../shared/kafka/consumer.ts';
import { DeadLetterWriter } from '../../shared/kafka/dlq.ts';
import { SeriesLimit } from './series-limit.ts';
import { clusterIdOf } from '../../shared/kafka/offsets.ts';
import { probeBrokers } from '../../shared/kafka/probe.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Registry } from '../../shared/metrics.ts';
import type { RoleHandle } from '../../shared/role.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import { Limiter } from '../../shared/limiter.ts';
import { settleWithin, withTimeout } from '../../shared/wait.ts';
import { OffsetStore } from './offset-store.ts';
import { PartitionPipeline, type PipelineDeps } from './partition-pipeline.ts';
import { createSinks } from './sinks.ts';
import { createWriterMetrics } from './writer-metrics.ts';
import { WriterStatus } from './writer-status.ts';

const FETCH_BYTES_PER_PARTITION = 4_194_304; // 4 MiB

export interface WriterDeps {
  config: Config;
  logger: Logger;
  kafka: Kafka;
  pool: Pool;
  codecs: ReadonlyMap<string, Codec>;
  registry: Registry;
}

/** How long stop() keeps writing what is pending (PostgreSQL may be down) before leaving it to the next owner. */
const DRAIN_TIMEOUT_MS = 15_000;
const DAY_MS = 86_400_000;

export async function startWriter(deps: WriterDeps): Promise<RoleHandle> {
  const { config, pool } = deps;
  const logger = deps.logger.child({ role: 'writer' });
  const sinks = new Map(createSinks(config, deps.codecs).map((s) => [s.topic, s]));
  const dlq = new DeadLetterWriter(deps.kafka, config.kafka.topics.dlq, deps.registry);
  const metrics = createWriterMetrics(deps.registry);
  const status = new WriterStatus();
  const pipelines = new Map<string, PartitionPipeline>();
  /** In-flight batches of pipelines dropped at a rebalance; a new pipeline of the partition waits for them. */
  const settling = new Map<string, Promise<void>>();
  let consumer: BatchConsumer | undefined;
  /** Set once stop() gave up on what is pending: late batches are left to the next owner. */
  let closed = false;

  const pipelineDeps: PipelineDeps = {
    pool,
    partitions: new PartitionCache(pool, config.storage.granularity),
    offsets: new OffsetStore(pool, config.writer.groupId),
    dlq,
    metrics,
    status,
    seriesLimit: config.storage.maxSeriesPerName > 0 ? new SeriesLimit(config.storage.maxSeriesPerName) : null,
    limiter: new Limiter(config.writer.concurrency),
    logger,
    batchMaxRows: config.writer.batchMaxRows,
    batchMaxWaitMs: config.writer.batchMaxWaitMs,
    seek: (topic, partition, offset) => consumer?.seek(topic, partition, offset),
    commit: async (topic, partition, next) => consumer?.commit(topic, partition, next),
  };

  function pipelineFor(topic: string, partition: number): PartitionPipeline {
    const key = `${topic}:${partition}`;
    let pipeline = pipelines.get(key);
    if (!pipeline) {
      pipeline = new PartitionPipeline(
        sinks.get(topic)!,
        partition,
        pipelineDeps,
        settling.get(key) ?? Promise.resolve(),
      );
      pipelines.set(key, pipeline);
      settling.delete(key);
    }
    return pipeline;
  }

  /** A new generation: whatever this member held may now belong to another; re-read from PostgreSQL's offsets. */
  function onAssignment(assignment: Record<string, number[]>): void {
    for (const [key, pipeline] of pipelines) {
      pipeline.abandon();
      settling.set(key, pipeline.settled());
    }
    pipelines.clear();
    seekToStored(assignment).catch((error) =>
      logger.warn(
        { err: error },
        'could not seek to the stored offsets; each partition seeks back when its first records arrive',
      ),
    );
  }

  /**
   * Every assigned partition from PostgreSQL's offset (the beginning when none is stored), whatever the group
   * committed in Kafka: a partition whose Kafka offset is ahead (a new database, a restored backup) and that
   * receives nothing new would otherwise never show the pipeline a record to seek back from.
   */
  async function seekToStored(assignment: Record<string, number[]>): Promise<void> {
    for (const [topic, partitions] of Object.entries(assignment)) {
      if (!sinks.has(topic)) continue;
      const stored = await pipelineDeps.offsets.ofTopic(topic);
      for (const partition of partitions) consumer?.seek(topic, partition, String(stored.get(partition) ?? 0n));
    }
  }

  consumer = new BatchConsumer(
    deps.kafka,
    {
      groupId: config.writer.groupId,
      topics: [...sinks.keys()],
      maxWaitMs: config.writer.batchMaxWaitMs,
      maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
      sessionTimeoutMs: config.writer.sessionTimeoutMs,
      onBatch: async (batch: PartitionBatch, control: BatchControl) => {
        if (!closed) await pipelineFor(batch.topic, batch.partition).accept(batch, control);
      },
      onAssignment,
    },
    logger,
  );
  /** Joins the group once the host serves HTTP (RoleHandle.start); stop() waits for it, within its deadline. */
  let starting: Promise<void> | null = null;
  async function start(): Promise<void> {
    // Partitions for yesterday..tomorrow exist before the first batch; older or newer ones are made on demand.
    const now = Date.now();
    await ensureAllPartitions(pool, config.storage.granularity, now - DAY_MS, now + DAY_MS);
    const clusterId = await clusterIdOf(deps.kafka);
    const binding = await pipelineDeps.offsets.bindCluster(clusterId);
    if (binding.outcome === 'changed') {
      logger.warn(
        { previous_cluster: binding.previous, cluster: clusterId, discarded_offsets: binding.discarded },
        "the stored offsets were read from another Kafka cluster: discarded, reading this cluster's topics from " +
          'their beginning (records already stored are recognised by id and stored once)',
      );
    }
    await dlq.connect();
    await consumer!.start();
  }

  return {
    name: 'writer',
    routes: [],
    start: () => (starting ??= start()),
    readiness: {
      postgres: async () => void (await pool.query('SELECT 1')),
      kafka: () => probeBrokers(config.kafka.brokers),
      writer: async () => {
        const why = consumer?.notConsuming;
        if (why) throw new NotReadyError(`writer: ${why}`);
        const paused = status.describe();
        if (paused) throw new NotReadyError(paused);
      },
    },
    async stop() {
      // Stop fetching, write what is pending; past the deadline (PostgreSQL down), drop it: it is re-read later.
      const drained = (async () => {
        await settleWithin(starting, DRAIN_TIMEOUT_MS);
        await consumer!.pause();
        await Promise.all([...pipelines.values()].map((p) => p.drain()));
      })();
      if ((await withTimeout(drained, DRAIN_TIMEOUT_MS, () => 'timeout' as const)) === 'timeout') {
        logger.warn(
          'pending records not written within the drain timeout; the next owner of their partitions re-reads them',
        );
      }
      closed = true;
      for (const pipeline of pipelines.values()) pipeline.abandon();
      await drained;
      await Promise.all([...pipelines.values()].map((p) => p.settled()));
      await consumer!.stop();
      await dlq.disconnect();
      metrics.close();
    },
  };
}
