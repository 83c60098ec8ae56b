/**
 * The stream writer: consumes the events topic in partition batches and stores each batch with one COPY, the
 * batch's consumer offset advancing in the SAME transaction (exactly once into PostgreSQL). On (re)assignment the
 * offsets in PostgreSQL win over Kafka's: records below them are skipped, and a gap above them is re-read.
 * Undecodable, invalid or database-rejected records go to the DLQ before the transaction commits, so none vanish.
 */
import type { Config } from '../../shared/config.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { isRetriablePgError } from '../../shared/db/pool.ts';
import { PartitionCache } from '../../shared/db/partitions.ts';
import type { Kafka } from '../../shared/kafka/client.ts';
import { BatchConsumer, type BatchControl, type ConsumedRecord, type PartitionBatch } from '../../shared/kafka/consumer.ts';
import { DeadLetterWriter, type DeadLetter } from '../../shared/kafka/dlq.ts';
import { probeBrokers } from '../../shared/kafka/probe.ts';
import type { Logger } from '../../shared/logger.ts';
import { Counter, Histogram, type Registry } from '../../shared/metrics.ts';
import type { RoleHandle } from '../../shared/role.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import { DEFAULT_EVENT_LIMITS } from '../../shared/schemas/event.ts';
import { copyIsolating, type CopyRow } from './copy-writer.ts';
import { EVENT_COLUMNS, formatEventRow } from './copy-format.ts';
import { decodeEvent } from './decode.ts';
import { OffsetFenceError, OffsetStore } from './offset-store.ts';

export interface WriterDeps {
  config: Config;
  logger: Logger;
  kafka: Kafka;
  pool: Pool;
  codecs: ReadonlyMap<string, Codec>;
  registry: Registry;
}

const MAX_BACKOFF_MS = 10_000;

export async function startWriter(deps: WriterDeps): Promise<RoleHandle> {
  const { config, pool } = deps;
  const logger = deps.logger.child({ role: 'writer' });
  const offsets = new OffsetStore(pool, config.writer.groupId);
  const partitions = new PartitionCache(pool, config.storage.granularity);
  const dlq = new DeadLetterWriter(deps.kafka, config.kafka.topics.dlq);
  const metrics = writerMetrics(deps.registry);
  const reseeked = new Set<string>();
  const decodeContext = {
    codecs: deps.codecs,
    limits: DEFAULT_EVENT_LIMITS,
    retentionDays: config.storage.eventRetentionDays,
    futureGraceSeconds: config.ingest.futureGraceSeconds,
  };

  async function onBatch(batch: PartitionBatch, control: BatchControl): Promise<string | null> {
    const { topic, partition } = batch;
    const expected = await retrying(control, () => offsets.get(topic, partition));
    const first = BigInt(batch.records[0].offset);
    const next = BigInt(batch.records[batch.records.length - 1].offset) + 1n;
    if (expected !== null && first > expected) {
      const key = `${topic}:${partition}:${expected}`;
      if (!reseeked.has(key)) {
        // Kafka's committed offset is ahead of what PostgreSQL holds: re-read from PostgreSQL's position.
        reseeked.add(key);
        logger.warn({ topic, partition, stored: expected.toString(), fetched: first.toString() }, 'seeking back to the offset stored in PostgreSQL');
        control.seek(expected.toString());
        return null;
      }
      logger.warn({ topic, partition, from: expected.toString(), to: first.toString() }, 'records below the fetched offset no longer exist in Kafka (retention)');
    }
    const fresh = expected === null ? batch.records : batch.records.filter((r) => BigInt(r.offset) >= expected);
    if (fresh.length === 0) return expected === null ? null : expected.toString();

    const rows: CopyRow<ConsumedRecord>[] = [];
    const letters: DeadLetter[] = [];
    const timestamps: number[] = [];
    for (const record of fresh) {
      const decoded = decodeEvent(record, decodeContext);
      if (decoded.ok) {
        rows.push({ text: formatEventRow(decoded.value), item: record });
        timestamps.push(decoded.value.timestamp);
      } else {
        letters.push({ record, topic, partition, reason: decoded.reason, detail: decoded.detail });
      }
    }

    try {
      await retrying(control, () => storeBatch(batch, expected, next, rows, letters, timestamps));
    } catch (error) {
      if (!(error instanceof OffsetFenceError)) throw error;
      const stored = await retrying(control, () => offsets.get(topic, partition));
      logger.warn({ topic, partition, stored: stored?.toString() }, error.message);
      if (stored !== null) control.seek(stored.toString());
      return null;
    }
    offsets.committed(topic, partition, next);
    return next.toString();
  }

  /** One transaction: COPY, dead letters acknowledged by Kafka, offset advanced; all or nothing. */
  async function storeBatch(
    batch: PartitionBatch,
    expected: bigint | null,
    next: bigint,
    rows: CopyRow<ConsumedRecord>[],
    letters: DeadLetter[],
    timestamps: number[],
  ): Promise<void> {
    const { topic, partition } = batch;
    await partitions.ensureFor('events', timestamps);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const started = process.hrtime.bigint();
      const rejected = await copyIsolating(client, { table: 'events', columns: EVENT_COLUMNS }, rows);
      metrics.copySeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      const dead = [
        ...letters,
        ...rejected.map(({ row, error }) => ({ record: row.item, topic, partition, reason: 'rejected_by_database', detail: error.message })),
      ];
      await dlq.write(dead);
      await offsets.advance(client, topic, partition, expected, next);
      await client.query('COMMIT');
      metrics.rows.inc({ table: 'events' }, rows.length - rejected.length);
      metrics.batchRows.observe(rows.length);
      for (const letter of dead) metrics.dlq.inc({ reason: letter.reason });
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /** Retries transient failures with capped exponential backoff while the partition is still ours. */
  async function retrying<T>(control: BatchControl, work: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (error instanceof OffsetFenceError || !control.isRunning() || control.isStale()) throw error;
        const delay = Math.min(MAX_BACKOFF_MS, 200 * 2 ** attempt);
        metrics.retries.inc({ kind: isRetriablePgError(error) ? 'database_unavailable' : 'other' });
        logger.warn({ err: error, attempt, delay_ms: delay }, 'writer batch failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
        await control.heartbeat();
      }
    }
  }

  await dlq.connect();
  const consumer = new BatchConsumer(
    deps.kafka,
    {
      groupId: config.writer.groupId,
      topics: [config.kafka.topics.events],
      maxWaitMs: config.writer.batchMaxWaitMs,
      maxBytesPerPartition: 8 * 1024 * 1024,
      onBatch,
      onAssignment: () => offsets.forgetAll(),
    },
    logger,
  );
  await consumer.start();

  return {
    name: 'writer',
    routes: [],
    readiness: {
      postgres: async () => void (await pool.query('SELECT 1')),
      kafka: () => probeBrokers(config.kafka.brokers),
      writer: async () => {
        if (!consumer.isRunning) throw new Error('the writer consumer is not running');
      },
    },
    async stop() {
      await consumer.stop();
      await dlq.disconnect();
    },
  };
}

function writerMetrics(registry: Registry) {
  return {
    rows: new Counter({ name: 'vigil_writer_rows_total', help: 'Rows stored by the writer', labelNames: ['table'], registers: [registry] }),
    dlq: new Counter({ name: 'vigil_writer_dlq_total', help: 'Records sent to the dead-letter topic, by reason', labelNames: ['reason'], registers: [registry] }),
    retries: new Counter({ name: 'vigil_writer_retries_total', help: 'Batch attempts retried after a failure', labelNames: ['kind'], registers: [registry] }),
    copySeconds: new Histogram({ name: 'vigil_writer_copy_seconds', help: 'Duration of one batch COPY', registers: [registry], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] }),
    batchRows: new Histogram({ name: 'vigil_writer_batch_rows', help: 'Rows per COPY batch', registers: [registry], buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000] }),
  };
}
