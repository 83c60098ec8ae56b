/**
 * The stream writer: consumes the events and metrics topics and stores each partition's records in batches, one
 * COPY per batch, the batch's rollup counters and consumer offset in the SAME transaction (exactly once into
 * PostgreSQL). One sink per topic (sinks.ts) says how a record becomes a row; batching, COPY, rollups, offsets,
 * dead letters and retries are shared (partition-pipeline.ts, batch-store.ts); the group membership, one pipeline
 * per assigned partition and the drain on shutdown are group.ts. On (re)assignment the offsets in
 * PostgreSQL win over Kafka's. Undecodable, invalid or database-rejected records go to the DLQ before the
 * transaction commits, so none vanish; a database that refuses every write (read-only, a missing grant, a full
 * disk) pauses the partitions instead, and /readyz says why (writer-status.ts). stop() stops fetching, writes what
 * is pending, then leaves the group.
 */
import { NotReadyError } from '../../shared/http/readiness.ts';
import { ensureAllPartitions, PartitionCache } from '../../shared/db/partitions.ts';
import { DeadLetterWriter } from '../../shared/kafka/dlq.ts';
import { SeriesLimit } from './series-limit.ts';
import { clusterIdOf } from '../../shared/kafka/offsets.ts';
import { probeBrokers } from '../../shared/kafka/probe.ts';
import type { RoleDeps, RoleHandle } from '../../shared/role.ts';
import { Limiter } from '../../shared/limiter.ts';
import { settleWithin } from '../../shared/wait.ts';
import { WriterGroup } from './group.ts';
import { OffsetStore } from './offset-store.ts';
import { createSinks } from './sinks.ts';
import { createWriterMetrics } from './writer-metrics.ts';
import { WriterStatus } from './writer-status.ts';

export type WriterDeps = RoleDeps;

/** How long stop() keeps writing what is pending (PostgreSQL may be down) before leaving it to the next owner. */
const DRAIN_TIMEOUT_MS = 15_000;
const DAY_MS = 86_400_000;
/** The most one fetch returns of one partition: 4 MiB. */
const FETCH_MAX_BYTES_PER_PARTITION = 4_194_304;

export async function startWriter(deps: WriterDeps): Promise<RoleHandle> {
  const { config, pool } = deps;
  const logger = deps.logger.child({ role: 'writer' });
  const metrics = createWriterMetrics(deps.registry);
  const onSeal = (verified: boolean) => metrics.sealedRecords.inc({ seal: verified ? 'verified' : 'refused' });
  const sinks = new Map(createSinks(config, deps.codecs, onSeal).map((s) => [s.topic, s]));
  const dlq = new DeadLetterWriter(deps.kafka, config.kafka.topics.dlq, deps.registry);
  const status = new WriterStatus();
  const offsets = new OffsetStore(pool, config.writer.groupId);
  const group = new WriterGroup(
    deps.kafka,
    {
      groupId: config.writer.groupId,
      sessionTimeoutMs: config.writer.sessionTimeoutMs,
      fetchMaxWaitMs: config.writer.batchMaxWaitMs,
      fetchMaxBytesPerPartition: FETCH_MAX_BYTES_PER_PARTITION,
    },
    sinks,
    {
      pool,
      partitions: new PartitionCache(pool, config.storage.granularity),
      offsets,
      dlq,
      metrics,
      status,
      seriesLimit: config.storage.maxSeriesPerName > 0 ? new SeriesLimit(config.storage.maxSeriesPerName) : null,
      limiter: new Limiter(config.writer.concurrency),
      logger,
      batchMaxRows: config.writer.batchMaxRows,
      batchMaxWaitMs: config.writer.batchMaxWaitMs,
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
    const binding = await offsets.bindCluster(clusterId);
    if (binding.outcome === 'changed') {
      logger.warn(
        { previous_cluster: binding.previous, cluster: clusterId, discarded_offsets: binding.discarded },
        "the stored offsets were read from another Kafka cluster: discarded, reading this cluster's topics from " +
          'their beginning (records already stored are recognised by id and stored once)',
      );
    }
    await dlq.connect();
    await group.start();
  }

  return {
    name: 'writer',
    routes: [],
    start: () => (starting ??= start()),
    readiness: {
      postgres: async () => void (await pool.query('SELECT 1')),
      kafka: () => probeBrokers(config.kafka.brokers),
      writer: async () => {
        const why = group.notConsuming;
        if (why) throw new NotReadyError(`writer: ${why}`);
        const paused = status.describe();
        if (paused) throw new NotReadyError(paused);
      },
    },
    async stop() {
      // Stop fetching, write what is pending; past the deadline (PostgreSQL down), drop it: it is re-read later.
      await group.drain(settleWithin(starting, DRAIN_TIMEOUT_MS), DRAIN_TIMEOUT_MS);
      await group.stop();
      await dlq.disconnect();
      metrics.close();
    },
  };
}
