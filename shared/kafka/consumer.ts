/**
 * A partition-batch consumer for processors that keep their own offsets (the writer stores them in PostgreSQL).
 * Pipelined: when onBatch returns, the fetch position moves past the batch (unless onBatch seeked), so the next
 * fetch runs while the processor is still writing what it took; the processor bounds what it holds by making
 * onBatch wait. Auto-commit is off: Kafka's committed offset advances only through commit(), which the processor
 * calls once a batch is durable, so it lags the processor's own store and serves for lag monitoring; the
 * processor's store is the truth on (re)assignment, when the fetch position restarts from Kafka's committed offset.
 * onAssignment is called at EVERY join of the group (a new generation), also when the assignment did not change:
 * a member that was stalled past its session and rejoined with the same partitions may have lost them meanwhile.
 */
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';

const DEFAULT_SESSION_TIMEOUT_MS = 30_000;
/** Heartbeats are sent three times per session timeout, and at least every 3 s (KafkaJS's own default). */
const HEARTBEATS_PER_SESSION_TIMEOUT = 3;
const MAX_HEARTBEAT_INTERVAL_MS = 3000;
/** A fetch answers at most this many partitions' worth of bytes at once. */
const FETCH_PARTITIONS_PER_REQUEST = 4;

export interface ConsumedRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Broker timestamp, epoch ms as string. */
  timestamp: string;
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  highWatermark: string;
}

export interface BatchControl {
  heartbeat(): Promise<void>;
  /** Re-read the partition from `offset`; the rest of the current batch is discarded. */
  seek(offset: string): void;
  isRunning(): boolean;
  isStale(): boolean;
}

export interface BatchConsumerOptions {
  groupId: string;
  topics: string[];
  maxWaitMs: number;
  maxBytesPerPartition: number;
  /** Group session timeout: how long a crashed member keeps its partitions. */
  sessionTimeoutMs?: number;
  /** Takes the batch; when it resolves without having seeked, the next fetch starts after the batch. */
  onBatch(batch: PartitionBatch, control: BatchControl): Promise<void>;
  /** Called at every join of the group (same assignment or not), before any batch of the new generation. */
  onAssignment?(assignment: Record<string, number[]>): void;
}

export class BatchConsumer {
  private readonly consumer: Consumer;
  private running = false;
  private lastBatchAt = Date.now();
  private inBatch = 0;
  private stopped = false;
  private joined = false;
  private rejoining: Promise<void> | null = null;

  constructor(
    kafka: Kafka,
    private readonly opts: BatchConsumerOptions,
    private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: opts.groupId,
      maxWaitTimeInMs: opts.maxWaitMs,
      maxBytesPerPartition: opts.maxBytesPerPartition,
      maxBytes: opts.maxBytesPerPartition * FETCH_PARTITIONS_PER_REQUEST,
      sessionTimeout: opts.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      heartbeatInterval: Math.min(
        MAX_HEARTBEAT_INTERVAL_MS,
        Math.floor((opts.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS) / HEARTBEATS_PER_SESSION_TIMEOUT),
      ),
      allowAutoTopicCreation: false,
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000, restartOnFailure: async () => true },
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      this.joined = true;
      this.logger.info({ member_assignment: payload.memberAssignment }, 'consumer group joined');
      opts.onAssignment?.(payload.memberAssignment);
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      this.logger.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
    });
  }

  /** True while the fetch loop is alive; a consumer that has not fetched for long is reported by health checks. */
  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Why the consumer is not consuming, or null when it is: stopped, or not in its group yet (its role is starting,
   * or waiting to join: after a crash, Kafka lets a new member in once the crashed member's session has expired).
   */
  get notConsuming(): string | null {
    if (this.stopped) return 'the consumer is stopped';
    if (!this.joined) return "joining the consumer group (after a crash: once the old member's session expires)";
    return null;
  }

  get millisSinceLastBatch(): number {
    return Date.now() - this.lastBatchAt;
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.opts.topics, fromBeginning: true });
    this.running = true;
    await this.run();
  }

  /**
   * Leaves the group and joins it again (a new generation, so a new assignment for every member). For a member
   * whose view of what it owns disagrees with its processor's store while the group itself looks stable.
   */
  rejoin(): Promise<void> {
    this.rejoining ??= (async () => {
      try {
        if (this.stopped) return;
        this.logger.warn('leaving and rejoining the consumer group');
        this.joined = false;
        await this.consumer.stop();
        if (this.stopped) return;
        await this.consumer.subscribe({ topics: this.opts.topics, fromBeginning: true });
        await this.run();
      } finally {
        this.rejoining = null;
      }
    })();
    return this.rejoining;
  }

  private async run(): Promise<void> {
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        this.lastBatchAt = Date.now();
        if (batch.messages.length === 0) return;
        const { topic, partition } = batch;
        this.inBatch++;
        try {
          await this.opts.onBatch(
            { topic, partition, highWatermark: batch.highWatermark, records: batch.messages.map(toRecord) },
            {
              heartbeat,
              isRunning,
              isStale,
              seek: (offset) => this.consumer.seek({ topic, partition, offset }),
            },
          );
          if (!isStale()) resolveOffset(batch.messages[batch.messages.length - 1].offset);
        } finally {
          this.inBatch--;
        }
      },
    });
  }

  /** Records `next` as the group's committed offset in Kafka (monitoring only; failures are ignored). */
  async commit(topic: string, partition: number, next: string): Promise<void> {
    try {
      await this.consumer.commitOffsets([{ topic, partition, offset: next }]);
    } catch (error) {
      this.logger.debug({ err: error, topic, partition }, 'kafka offset commit skipped');
    }
  }

  /** Re-reads the partition from `offset` (if it is still assigned to this member). */
  seek(topic: string, partition: number, offset: string): void {
    this.consumer.seek({ topic, partition, offset });
  }

  /** Stops fetching new batches and waits for the batch being handed to onBatch, if any. */
  async pause(): Promise<void> {
    try {
      this.consumer.pause(this.opts.topics.map((topic) => ({ topic })));
    } catch {
      return; // never ran (stopped while starting): nothing is being fetched
    }
    while (this.inBatch > 0) await new Promise((r) => setTimeout(r, 10));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    await this.rejoining?.catch(() => {});
    await this.consumer.disconnect();
  }
}

function toRecord(message: KafkaMessage): ConsumedRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    headers[name.toLowerCase()] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return { offset: message.offset, key: message.key, value: message.value, headers, timestamp: message.timestamp };
}
