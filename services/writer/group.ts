/**
 * The writer's membership of its consumer group: one PartitionPipeline per assigned partition, rebuilt at every
 * join of the group (a new generation, also when the assignment did not change), every assigned partition
 * re-read from the offset stored in PostgreSQL whatever the group committed in Kafka, and on shutdown a drain of
 * what is pending before the member leaves. A pipeline dropped at a rebalance may still be writing a batch: the
 * next pipeline of its partition waits for it before it loads the stored offset.
 */
import type { Kafka } from '../../shared/kafka/client.ts';
import { BatchConsumer, type BatchControl, type PartitionBatch } from '../../shared/kafka/consumer.ts';
import type { Logger } from '../../shared/logger.ts';
import { withTimeout } from '../../shared/wait.ts';
import { PartitionPipeline, type PipelineDeps } from './partition-pipeline.ts';
import type { Sink } from './sinks.ts';

export interface WriterGroupOptions {
  groupId: string;
  sessionTimeoutMs: number;
  /** How long a fetch waits for data on the broker. */
  fetchMaxWaitMs: number;
  fetchMaxBytesPerPartition: number;
}

/** What each partition's pipeline shares; seeking and committing go through the group's consumer. */
export type GroupPipelineDeps = Omit<PipelineDeps, 'seek' | 'commit'>;

export class WriterGroup {
  private readonly consumer: BatchConsumer;
  private readonly pipelines = new Map<string, PartitionPipeline>();
  /** In-flight batches of pipelines dropped at a rebalance; a new pipeline of the partition waits for them. */
  private readonly settling = new Map<string, Promise<void>>();
  private readonly deps: PipelineDeps;
  /** Set once drain() gave up on what is pending: late batches are left to the next owner. */
  private closed = false;

  constructor(
    kafka: Kafka,
    opts: WriterGroupOptions,
    private readonly sinks: ReadonlyMap<string, Sink>,
    deps: GroupPipelineDeps,
    private readonly logger: Logger,
  ) {
    this.deps = {
      ...deps,
      seek: (topic, partition, offset) => this.consumer.seek(topic, partition, offset),
      commit: (topic, partition, next) => this.consumer.commit(topic, partition, next),
    };
    this.consumer = new BatchConsumer(
      kafka,
      {
        groupId: opts.groupId,
        topics: [...sinks.keys()],
        maxWaitMs: opts.fetchMaxWaitMs,
        maxBytesPerPartition: opts.fetchMaxBytesPerPartition,
        sessionTimeoutMs: opts.sessionTimeoutMs,
        onBatch: (batch, control) => this.onBatch(batch, control),
        onAssignment: (assignment) => this.onAssignment(assignment),
      },
      logger,
    );
  }

  /** Why the member is not consuming (stopped, not in its group yet), or null. */
  get notConsuming(): string | null {
    return this.consumer.notConsuming;
  }

  start(): Promise<void> {
    return this.consumer.start();
  }

  /**
   * Stops fetching and writes what is pending; past `timeoutMs` (PostgreSQL down) it is dropped and the next owner
   * of the partitions re-reads it. Resolves once no batch is being written any more.
   */
  async drain(before: Promise<unknown>, timeoutMs: number): Promise<void> {
    const drained = (async () => {
      await before;
      await this.consumer.pause();
      await Promise.all([...this.pipelines.values()].map((p) => p.drain()));
    })();
    if ((await withTimeout(drained, timeoutMs, () => 'timeout' as const)) === 'timeout') {
      this.logger.warn(
        'pending records not written within the drain timeout; the next owner of their partitions re-reads them',
      );
    }
    this.closed = true;
    for (const pipeline of this.pipelines.values()) pipeline.abandon();
    await drained;
    await Promise.all([...this.pipelines.values()].map((p) => p.settled()));
  }

  /** Leaves the group. */
  stop(): Promise<void> {
    return this.consumer.stop();
  }

  private async onBatch(batch: PartitionBatch, control: BatchControl): Promise<void> {
    if (!this.closed) await this.pipelineFor(batch.topic, batch.partition).accept(batch, control);
  }

  private pipelineFor(topic: string, partition: number): PartitionPipeline {
    const key = `${topic}:${partition}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const settled = this.settling.get(key) ?? Promise.resolve();
      pipeline = new PartitionPipeline(this.sinks.get(topic)!, partition, this.deps, settled);
      this.pipelines.set(key, pipeline);
      this.settling.delete(key);
    }
    return pipeline;
  }

  /** A new generation: whatever this member held may now belong to another; re-read from PostgreSQL's offsets. */
  private onAssignment(assignment: Record<string, number[]>): void {
    for (const [key, pipeline] of this.pipelines) {
      pipeline.abandon();
      this.settling.set(key, pipeline.settled());
    }
    this.pipelines.clear();
    this.seekToStored(assignment).catch((error) =>
      this.logger.warn(
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
  private async seekToStored(assignment: Record<string, number[]>): Promise<void> {
    for (const [topic, partitions] of Object.entries(assignment)) {
      if (!this.sinks.has(topic)) continue;
      const stored = await this.deps.offsets.ofTopic(topic);
      for (const partition of partitions) this.consumer.seek(topic, partition, String(stored.get(partition) ?? 0n));
    }
  }
}
