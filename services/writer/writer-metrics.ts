/**
 * The writer's own telemetry, registered on the process's registry (labels: topic, table, partition, kind —
 * never ids). Dead letters are counted by reason in vigil_dlq_records_total (shared/kafka/dlq.ts).
 */
import { Counter, Gauge, Histogram, type Registry } from '../../shared/metrics.ts';

import { MS_PER_SECOND } from '../../shared/units.ts';

export type WriterMetrics = ReturnType<typeof createWriterMetrics>;

const RATE_WINDOW_MS = 5000;

export function createWriterMetrics(registry: Registry) {
  const registers = [registry];
  const metrics = {
    rows: new Counter({
      name: 'vigil_writer_rows_total',
      help: 'Rows stored by the writer',
      labelNames: ['table'],
      registers,
    }),
    duplicates: new Counter({
      name: 'vigil_writer_duplicates_total',
      help: 'Records not stored because the same (timestamp, id) was already stored (client retries)',
      labelNames: ['table'],
      registers,
    }),
    sealedRecords: new Counter({
      name: 'vigil_writer_sealed_records_total',
      help:
        'Records carrying a gateway seal: verified (stored without validating again) or refused (validated in full: ' +
        'KAFKA_SEAL_SECRET differs between gateway and writer, or the record was altered)',
      labelNames: ['seal'],
      registers,
    }),
    batches: new Counter({
      name: 'vigil_writer_batches_total',
      help: 'Batches committed (rows, rollups and offsets in one transaction)',
      labelNames: ['table'],
      registers,
    }),
    retries: new Counter({
      name: 'vigil_writer_retries_total',
      help: 'Batch attempts retried after a transient failure',
      labelNames: ['kind'],
      registers,
    }),
    fenced: new Counter({
      name: 'vigil_writer_fenced_total',
      help: 'Batches discarded because another writer advanced the partition first (rebalance)',
      registers,
    }),
    copySeconds: new Histogram({
      name: 'vigil_writer_copy_seconds',
      help: 'Duration of the COPY of one batch',
      labelNames: ['table'],
      registers,
      // biome-ignore lint/style/noMagicNumbers: histogram bucket bounds
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    }),
    commitSeconds: new Histogram({
      name: 'vigil_writer_transaction_seconds',
      help: 'Duration of one batch transaction (COPY, dead letters, rollups, offsets, commit)',
      labelNames: ['table'],
      registers,
      // biome-ignore lint/style/noMagicNumbers: histogram bucket bounds
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
    batchRows: new Histogram({
      name: 'vigil_writer_batch_rows',
      help: 'Items (rows and dead letters) per batch transaction',
      labelNames: ['table'],
      registers,
      // biome-ignore lint/style/noMagicNumbers: histogram bucket bounds
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000],
    }),
    lag: new Gauge({
      name: 'vigil_writer_consumer_lag',
      help: 'Records in Kafka not yet stored, per partition (high watermark minus the offset stored in PostgreSQL)',
      labelNames: ['topic', 'partition'],
      registers,
    }),
    pending: new Gauge({
      name: 'vigil_writer_pending_records',
      help: 'Records fetched and waiting for their batch',
      registers,
    }),
    rate: new Gauge({
      name: 'vigil_writer_rows_per_second',
      help: `Rows stored per second over the last ${RATE_WINDOW_MS / MS_PER_SECOND} s`,
      labelNames: ['table'],
      registers,
    }),
  };
  const stored = new Map<string, number>();
  const previous = new Map<string, number>();
  const timer = setInterval(() => {
    for (const [table, total] of stored) {
      metrics.rate.set({ table }, ((total - (previous.get(table) ?? 0)) * MS_PER_SECOND) / RATE_WINDOW_MS);
      previous.set(table, total);
    }
  }, RATE_WINDOW_MS);
  timer.unref();
  return {
    ...metrics,
    stored(table: string, rows: number): void {
      metrics.rows.inc({ table }, rows);
      stored.set(table, (stored.get(table) ?? 0) + rows);
    },
    close(): void {
      clearInterval(timer);
    },
  };
}
