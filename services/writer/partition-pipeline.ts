/**
 * The writer's state for one assigned topic-partition: fetched records wait in `pending` until they carry
 * WRITER_BATCH_MAX_ROWS items (a record carries one item or a bundle; its items are estimated without decoding it,
 * shared/kafka/record-items.ts) or the oldest has waited WRITER_BATCH_MAX_WAIT_MS; then ONE batch is taken,
 * decoded into rows and stored (services/writer/batch-store.ts) while the consumer already fetches the next records
 * and other partitions' batches decode. Records wait raw and are decoded only when their batch is taken: the
 * decoded rows then live for one batch instead of surviving garbage collections while they wait. At most
 * one batch per partition is in flight, so offsets advance in partition order; batches of different partitions run
 * in parallel up to WRITER_CONCURRENCY (the shared Limiter).
 *
 * Positions: `stored` is the next offset PostgreSQL has for the partition (the fence of the next batch);
 * `position` is the next offset this pipeline expects from Kafka. Records below `position` (a re-fetch after a
 * rebalance, Kafka's committed offset lagging PostgreSQL's) are skipped; a fetch starting above it means Kafka's
 * committed offset is ahead of PostgreSQL, so the pipeline seeks back once (a second time it is a gap left by
 * Kafka retention, logged and accepted).
 *
 * Failures: anything but a row's content (PostgreSQL down or restarting, read-only, a missing grant, a full disk,
 * Kafka refusing dead letters, a bug) pauses the partition: the same batch is retried with capped exponential
 * backoff, nothing is dead-lettered for it and nothing advances, and the cause shows on /readyz (writer-status.ts);
 * pending records stay bounded because accept() waits while twice a batch is pending. A fence failure (another
 * writer advanced the partition) drops everything held and seeks to the offset PostgreSQL has. abandon()
 * (rebalance, shutdown deadline) drops what is held: it will be read again.
 */
import type { BatchControl, ConsumedRecord, PartitionBatch } from '../../shared/kafka/consumer.ts';
import type { Logger } from '../../shared/logger.ts';
import type { DeadLetterWriter } from '../../shared/kafka/dlq.ts';
import { storeBatch, type BatchStoreDeps, type Entry } from './batch-store.ts';
import { MissingPartitionError } from './copy-writer.ts';
import { CopyRows } from './copy-format.ts';
import type { Limiter } from '../../shared/limiter.ts';
import { OffsetFenceError } from './offset-store.ts';
import type { Sink } from './sinks.ts';
import type { WriterMetrics } from './writer-metrics.ts';
import { pauseCauseOf, retryKind, type WriterStatus } from './writer-status.ts';
import { backoffMs, withTimeout } from '../../shared/wait.ts';

/** While a batch is written, the consumer heartbeats at least this often. */
const HEARTBEAT_WAIT_MS = 1000;
/** Distinct dead-letter details quoted in one warning. */
const LOGGED_DETAILS = 5;

export interface PipelineDeps extends BatchStoreDeps {
  limiter: Limiter;
  logger: Logger;
  metrics: WriterMetrics;
  dlq: DeadLetterWriter;
  status: WriterStatus;
  batchMaxRows: number;
  batchMaxWaitMs: number;
  /** Kafka side effects: re-read from an offset, record the stored offset for lag monitoring. */
  seek(topic: string, partition: number, offset: string): void;
  commit(topic: string, partition: number, next: string): Promise<void>;
}

/** A batch's rows take about what its records do (COPY's field framing is a little larger than Avro's). */
const COPY_BYTES_PER_RECORD_BYTE = 1.25;
const MIN_BATCH_BYTES = 1024;

function batchBytesHint(records: ConsumedRecord[]): number {
  let bytes = 0;
  for (const record of records) bytes += record.value?.length ?? 0;
  return Math.max(MIN_BATCH_BYTES, Math.ceil(bytes * COPY_BYTES_PER_RECORD_BYTE));
}

const BASE_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `count` consecutive pending records that arrived at `at`. */
interface Arrival {
  count: number;
  at: number;
}

export class PartitionPipeline {
  private stored: bigint | null = null;
  private position: bigint | null = null;
  private pending: ConsumedRecord[] = [];
  /** Estimated items of each pending record, and their sum. */
  private weights: number[] = [];
  private pendingItems = 0;
  private arrivals: Arrival[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | null = null;
  private abandoned = false;
  private draining = false;
  private highWatermark: bigint | null = null;
  private kafkaNext: bigint | null = null;
  private kafkaCommitting = false;
  private readonly reseeked = new Set<bigint>();
  private readonly ready: Promise<void>;
  private progressed: () => void = () => {};
  private progress = new Promise<void>((r) => (this.progressed = r));

  constructor(
    readonly sink: Sink,
    readonly partition: number,
    private readonly deps: PipelineDeps,
    /** The previous pipeline of this partition (before a rebalance): its in-flight batch must settle first. */
    previous: Promise<void>,
  ) {
    this.ready = previous.then(() => this.load());
    this.ready.catch(() => {});
  }

  private get topic(): string {
    return this.sink.topic;
  }

  private get key(): string {
    return `${this.sink.topic}:${this.partition}`;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Resolves once nothing is in flight (used before a new owner of the partition reads the stored offset). */
  settled(): Promise<void> {
    return (this.flushing ?? Promise.resolve()).catch(() => {});
  }

  private async load(): Promise<void> {
    for (let attempt = 0; !this.abandoned; attempt++) {
      try {
        this.stored = await this.deps.offsets.get(this.topic, this.partition);
        // Nothing stored for the partition (a new database, or offsets discarded for another cluster): from the
        // beginning of what Kafka holds, whatever the group committed in Kafka (PostgreSQL is the truth).
        this.position = this.stored ?? 0n;
        this.deps.status.resume(this.key);
        return;
      } catch (error) {
        await this.backoff(error, attempt);
      }
    }
  }

  /** Takes a fetched batch; waits while twice a batch of this partition is pending (bounded memory). */
  async accept(batch: PartitionBatch, control: BatchControl): Promise<void> {
    await this.ready;
    // Stale: fetched before a seek of this partition took effect; the seek re-reads it.
    if (this.abandoned || control.isStale()) return;
    let records = batch.records;
    this.highWatermark = BigInt(batch.highWatermark);
    const first = BigInt(records[0].offset);
    if (this.position !== null) {
      if (first > this.position) {
        if (!this.reseeked.has(this.position)) {
          this.reseeked.add(this.position);
          this.deps.logger.warn(
            {
              topic: this.topic,
              partition: this.partition,
              stored: this.position.toString(),
              fetched: first.toString(),
            },
            'seeking back to the offset stored in PostgreSQL (the beginning when none is)',
          );
          control.seek(this.position.toString());
          return;
        }
        this.deps.logger.warn(
          { topic: this.topic, partition: this.partition, from: this.position.toString(), to: first.toString() },
          'records below the fetched offset no longer exist in Kafka (retention)',
        );
      }
      const from = this.position;
      if (first < from) records = records.filter((r) => BigInt(r.offset) >= from); // offsets ascend: compare once
      if (records.length === 0) return;
    }
    for (const record of records) {
      const weight = this.sink.estimatedItems(record);
      this.pending.push(record);
      this.weights.push(weight);
      this.pendingItems += weight;
    }
    this.arrivals.push({ count: records.length, at: Date.now() });
    this.deps.metrics.pending.inc(records.length);
    this.position = BigInt(records[records.length - 1].offset) + 1n;
    this.updateLag();
    this.schedule();
    while (
      this.pendingItems >= 2 * this.deps.batchMaxRows &&
      !this.abandoned &&
      !this.draining &&
      control.isRunning()
    ) {
      await withTimeout(this.progress, HEARTBEAT_WAIT_MS, () => undefined);
      await control.heartbeat();
    }
  }

  /** Writes everything pending now, without waiting for the batch to fill; resolves when nothing is held. */
  async drain(): Promise<void> {
    this.draining = true;
    while (!this.abandoned && (this.pending.length > 0 || this.flushing)) {
      if (!this.flushing) this.startFlush();
      await this.flushing;
    }
  }

  /** Drops what is held (it will be fetched again by whoever owns the partition next). */
  abandon(): void {
    this.abandoned = true;
    clearTimeout(this.timer);
    this.dropPending();
    this.deps.status.resume(this.key);
    this.deps.metrics.lag.remove({ topic: this.topic, partition: String(this.partition) });
    this.signal();
  }

  private schedule(): void {
    if (this.flushing || this.abandoned || this.pending.length === 0) return;
    clearTimeout(this.timer);
    const due = this.arrivals[0].at + this.deps.batchMaxWaitMs - Date.now();
    if (this.pendingItems >= this.deps.batchMaxRows || due <= 0 || this.draining) this.startFlush();
    else this.timer = setTimeout(() => this.schedule(), due);
  }

  private startFlush(): void {
    clearTimeout(this.timer);
    this.flushing = this.flush()
      .catch((error: unknown) =>
        this.deps.logger.error(
          { err: error, topic: this.topic, partition: this.partition },
          'writer batch failed unexpectedly; re-reading the partition from its first record',
        ),
      )
      .finally(() => {
        this.flushing = null;
        this.signal();
        this.schedule();
      });
  }

  private signal(): void {
    this.progressed();
    this.progress = new Promise<void>((r) => (this.progressed = r));
  }

  private async flush(): Promise<void> {
    await this.deps.limiter.acquire();
    try {
      if (this.abandoned || this.pending.length === 0) return;
      let count = 0;
      for (
        let items = 0;
        count < this.pending.length && (count === 0 || items + this.weights[count] <= this.deps.batchMaxRows);
        count++
      )
        items += this.weights[count];
      const records = this.pending.splice(0, count);
      for (const weight of this.weights.splice(0, count)) this.pendingItems -= weight;
      this.deps.metrics.pending.dec(records.length);
      for (let taken = records.length; taken > 0; ) {
        const first = this.arrivals[0];
        const used = Math.min(first.count, taken);
        first.count -= used;
        taken -= used;
        if (first.count === 0) this.arrivals.shift();
      }
      try {
        const batch = new CopyRows(batchBytesHint(records));
        await this.store(
          records.map((record) => this.decode(record, batch)),
          batch,
        );
      } catch (error) {
        // Never let a later batch advance the offset past records that were not stored: re-read from this batch.
        this.dropPending();
        this.position = BigInt(records[0].offset);
        this.deps.seek(this.topic, this.partition, records[0].offset);
        throw error;
      }
    } finally {
      this.deps.limiter.release();
    }
  }

  private decode(record: ConsumedRecord, batch: CopyRows): Entry {
    const mark = batch.length;
    try {
      const { rows, dead } = this.sink.decode(record, batch);
      return { record, rows, dead };
    } catch (error) {
      batch.truncate(mark); // rows of the record written before the failure go to the DLQ with it
      // A decoder bug must not stall the partition or lose the record: it goes to the DLQ with the reason.
      return {
        record,
        rows: [],
        dead: [
          { reason: 'decode_failed', detail: `internal error while decoding: ${(error as Error).message}`, item: null },
        ],
      };
    }
  }

  private async store(entries: Entry[], batch: CopyRows): Promise<void> {
    const { metrics, logger } = this.deps;
    const table = this.sink.table;
    const next = BigInt(entries[entries.length - 1].record.offset) + 1n;
    const lettersSent = new Set<string>(); // across attempts: a retry does not write them to the DLQ again
    for (let attempt = 0; !this.abandoned; attempt++) {
      try {
        const { sink, partition, stored: expected } = this;
        const request = { sink, partition, entries, batch, expected, next, lettersSent };
        const result = await storeBatch(this.deps, request);
        this.stored = next;
        this.deps.status.resume(this.key);
        metrics.stored(table, result.stored);
        if (result.duplicates > 0) metrics.duplicates.inc({ table }, result.duplicates);
        metrics.batches.inc({ table });
        metrics.batchRows.observe(
          { table },
          entries.reduce((sum, entry) => sum + entry.rows.length + entry.dead.length, 0),
        );
        this.deps.dlq.counted(result.dead);
        const overLimit = result.dead.filter((d) => d.reason === 'series_limit');
        if (overLimit.length > 0) {
          const details = [...new Set(overLimit.map((d) => d.detail))].slice(0, LOGGED_DETAILS);
          logger.warn(
            { topic: this.sink.topic, partition: this.partition, samples: overLimit.length, details },
            'samples of new series refused: METRICS_MAX_SERIES_PER_NAME reached (dead-lettered)',
          );
        }
        this.updateLag();
        this.commitToKafka(next);
        return;
      } catch (error) {
        if (error instanceof OffsetFenceError) return this.fenced(error);
        if (error instanceof MissingPartitionError) {
          // Someone dropped a partition this process believed existed: forget what we know and create it.
          this.deps.partitions.forget(table);
          this.deps.partitions.forget('rollups');
          logger.warn({ err: error }, 'time partition missing; creating it and retrying the batch');
        }
        await this.backoff(error, attempt);
      }
    }
  }

  /**
   * Kafka's committed offset only serves lag monitoring (PostgreSQL's is the truth), so it is recorded in the
   * background, at most one request in flight per partition and only the newest offset, never holding a COPY slot.
   */
  private commitToKafka(next: bigint): void {
    this.kafkaNext = next;
    if (this.kafkaCommitting) return;
    this.kafkaCommitting = true;
    void (async () => {
      let sent: bigint | null = null;
      while (this.kafkaNext !== sent && !this.abandoned) {
        sent = this.kafkaNext;
        await this.deps.commit(this.topic, this.partition, sent!.toString());
      }
      this.kafkaCommitting = false;
    })();
  }

  private async fenced(error: OffsetFenceError): Promise<void> {
    this.deps.metrics.fenced.inc();
    this.deps.logger.warn({ topic: this.topic, partition: this.partition }, error.message);
    this.dropPending();
    await this.load();
    this.dropPending(); // anything accepted while loading lies beyond the stored offset: the seek re-reads it
    if (this.stored !== null && !this.abandoned) this.deps.seek(this.topic, this.partition, this.stored.toString());
  }

  private dropPending(): void {
    this.deps.metrics.pending.dec(this.pending.length);
    this.pending = [];
    this.weights = [];
    this.pendingItems = 0;
    this.arrivals = [];
  }

  private async backoff(error: unknown, attempt: number): Promise<void> {
    if (this.abandoned) return;
    const delay = backoffMs(attempt, BASE_BACKOFF_MS, MAX_BACKOFF_MS);
    const cause = pauseCauseOf(error);
    this.deps.status.pause(this.key, cause);
    this.deps.metrics.retries.inc({ kind: retryKind(cause) });
    this.deps.logger.warn(
      { err: error, topic: this.topic, partition: this.partition, cause, attempt, delay_ms: Math.round(delay) },
      'writer batch failed; partition paused, retrying',
    );
    await sleep(delay);
  }

  private updateLag(): void {
    if (this.highWatermark === null) return;
    const stored = this.stored ?? 0n;
    const lag = this.highWatermark > stored ? this.highWatermark - stored : 0n;
    this.deps.metrics.lag.set({ topic: this.topic, partition: String(this.partition) }, Number(lag));
  }
}
