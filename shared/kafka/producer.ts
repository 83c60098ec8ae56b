/**
 * A producer that coalesces concurrent publish() calls into few sendBatch() requests (KafkaJS sends one Produce
 * request per call; batching across HTTP requests is where the throughput is). Every publish resolves only after
 * the broker acknowledged its messages with acks=all, or rejects with a retriable VigilError when the deadline
 * passes or Kafka refuses: callers never acknowledge what Kafka has not durably accepted.
 */
import type { Kafka, Producer, Message, TopicMessages } from 'kafkajs';
import { Partitioners, CompressionTypes } from 'kafkajs';
import { VigilError } from '../errors.ts';

export interface OutgoingMessage {
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

interface Pending {
  topic: string;
  messages: OutgoingMessage[];
  bytes: number;
  resolve: () => void;
  reject: (error: Error) => void;
  settled: boolean;
}

export interface BatchingProducerOptions {
  /** How long publish() waits for acks before rejecting with VIGIL_ERR_KAFKA_UNAVAILABLE. */
  timeoutMs: number;
  /** Concurrent sendBatch() calls; pending messages wait for a free slot and ride together. */
  maxInFlightSends?: number;
  /** Upper bound of one sendBatch() in bytes. */
  maxBatchBytes?: number;
  /**
   * Upper bound of one sendBatch() in messages. KafkaJS groups a send's messages per partition by copying the
   * partition's array for every message (quadratic): 40k messages in one send cost seconds, 2k cost nothing.
   */
  maxBatchMessages?: number;
  /** Bytes waiting for a slot at most; beyond it publish() rejects at once. */
  maxQueuedBytes?: number;
}

export class BatchingProducer {
  private readonly producer: Producer;
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private connected = false;
  private readonly opts: Required<BatchingProducerOptions>;

  constructor(kafka: Kafka, opts: BatchingProducerOptions) {
    this.opts = { maxInFlightSends: 2, maxBatchBytes: 8 * 1024 * 1024, maxBatchMessages: 2000, maxQueuedBytes: 64 * 1024 * 1024, ...opts };
    this.producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    this.producer.on(this.producer.events.CONNECT, () => (this.connected = true));
    this.producer.on(this.producer.events.DISCONNECT, () => (this.connected = false));
  }

  get isConnected(): boolean {
    return this.connected;
  }

  get queuedByteCount(): number {
    return this.queuedBytes;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    const bytes = messages.reduce((sum, m) => sum + m.value.length + (m.key?.length ?? 0), 0);
    if (this.queuedBytes + bytes > this.opts.maxQueuedBytes) {
      return Promise.reject(unavailable('the gateway has too much waiting for Kafka'));
    }
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = { topic, messages, bytes, resolve, reject, settled: false };
      const timer = setTimeout(() => {
        settle(pending, unavailable(`Kafka did not acknowledge within ${this.opts.timeoutMs} ms`));
      }, this.opts.timeoutMs);
      pending.resolve = () => (clearTimeout(timer), resolve());
      pending.reject = (error) => (clearTimeout(timer), reject(error));
      this.queue.push(pending);
      this.queuedBytes += bytes;
      this.pump();
    });
  }

  /** Waits for queued and in-flight sends, then disconnects. */
  async close(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    await this.producer.disconnect();
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlightSends && this.queue.length > 0) {
      const batch = this.takeBatch();
      if (batch.length === 0) return;
      this.inFlight++;
      this.send(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let bytes = 0;
    let count = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (batch.length > 0 && (bytes + next.bytes > this.opts.maxBatchBytes || count + next.messages.length > this.opts.maxBatchMessages)) break;
      this.queue.shift();
      this.queuedBytes -= next.bytes;
      // A request that already timed out was answered 503; do not publish what the client was told failed.
      if (next.settled) continue;
      batch.push(next);
      bytes += next.bytes;
      count += next.messages.length;
    }
    return batch;
  }

  private async send(batch: Pending[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const pending of batch) {
      const list = byTopic.get(pending.topic) ?? [];
      for (const m of pending.messages) list.push({ key: m.key, value: m.value, headers: m.headers });
      byTopic.set(pending.topic, list);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    try {
      await this.producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
      for (const pending of batch) settle(pending);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      for (const pending of batch) settle(pending, unavailable(`Kafka refused the write: ${reason}`));
    }
  }
}

function settle(pending: Pending, error?: Error): void {
  if (pending.settled) return;
  pending.settled = true;
  if (error) pending.reject(error);
  else pending.resolve();
}

function unavailable(message: string): VigilError {
  return new VigilError('VIGIL_ERR_KAFKA_UNAVAILABLE', `${message}; nothing was accepted, retry later`, undefined, 2);
}
