/**
 * A producer that coalesces concurrent publish() calls into few sendBatch() requests (KafkaJS sends one Produce
 * request per call; batching across HTTP requests is where the throughput is). Every publish resolves only after
 * the broker acknowledged all its messages with acks=all, or rejects with a retriable VigilError when the deadline
 * passes or Kafka refuses: callers never acknowledge what Kafka has not durably accepted.
 *
 * Sends are cut at message granularity to at most maxBatchBytes (estimated record size) and maxBatchMessages:
 *  - the broker refuses a partition's record batch above message.max.bytes (1 MiB by default), and KafkaJS makes one
 *    record batch per partition per send, so a send under the limit can never be refused for size, however many
 *    requests it carries or however large one request is (a 5 MB request becomes several sends);
 *  - KafkaJS groups a send's messages per partition by copying the partition's array for every message (quadratic),
 *    so thousands of messages in one send cost more CPU than the request saves.
 * The parts of one publish are sent one after the other (per-key order within a request holds); a publish whose
 * messages span several sends resolves when the last of them is acknowledged; when one of them
 * fails, the publish rejects (messages of its other sends may already be stored: callers that retry with the same
 * record ids are stored once).
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
  sizes: number[];
  bytes: number;
  /** Index of the first message not yet taken into a send. */
  next: number;
  /** Sends carrying some of this publish's messages that have not completed. */
  sending: number;
  resolve: () => void;
  reject: (error: Error) => void;
  settled: boolean;
}

interface Slice {
  pending: Pending;
  from: number;
  to: number;
}

export interface BatchingProducerOptions {
  /** How long publish() waits for acks before rejecting with VIGIL_ERR_KAFKA_UNAVAILABLE. */
  timeoutMs: number;
  /** Concurrent sendBatch() calls; pending messages wait for a free slot and ride together. */
  maxInFlightSends?: number;
  /** Upper bound of one sendBatch() in estimated record bytes: keep it under the broker's message.max.bytes. */
  maxBatchBytes?: number;
  /** Upper bound of one sendBatch() in messages. */
  maxBatchMessages?: number;
  /** Bytes waiting for a slot at most; beyond it publish() rejects at once. */
  maxQueuedBytes?: number;
}

// Per-record framing in a v2 record batch (length, attributes, deltas, key/value lengths, header count): at most ~25.
const RECORD_OVERHEAD = 25;

export class BatchingProducer {
  private readonly producer: Producer;
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private inFlight = 0;
  private connected = false;
  private readonly opts: Required<BatchingProducerOptions>;

  constructor(kafka: Kafka, opts: BatchingProducerOptions) {
    this.opts = { maxInFlightSends: 4, maxBatchBytes: 900 * 1024, maxBatchMessages: 2000, maxQueuedBytes: 64 * 1024 * 1024, ...opts };
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
    if (messages.length === 0) return Promise.resolve();
    const sizes = messages.map(recordSize);
    const bytes = sizes.reduce((sum, size) => sum + size, 0);
    if (this.queuedBytes + bytes > this.opts.maxQueuedBytes) {
      return Promise.reject(unavailable('the gateway has too much waiting for Kafka'));
    }
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = { topic, messages, sizes, bytes, next: 0, sending: 0, resolve, reject, settled: false };
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
      const slices = this.takeSlices();
      if (slices.length === 0) return;
      this.inFlight++;
      this.send(slices).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  /** The next send: whole publishes and parts of them, in arrival order, within the byte and message bounds. */
  private takeSlices(): Slice[] {
    const slices: Slice[] = [];
    let bytes = 0;
    let count = 0;
    while (this.queue.length > 0) {
      const pending = this.queue[0];
      // A publish that already timed out was answered 503: do not send what the client was told failed.
      if (pending.settled) {
        this.dequeue(pending);
        continue;
      }
      // The rest of a publish waits until its previous part is acknowledged: concurrent KafkaJS sends may reach
      // the broker in either order, and one request's records must keep theirs.
      if (pending.sending > 0) break;
      const from = pending.next;
      let to = from;
      while (
        to < pending.messages.length &&
        count < this.opts.maxBatchMessages &&
        (count === 0 || bytes + pending.sizes[to] <= this.opts.maxBatchBytes)
      ) {
        bytes += pending.sizes[to];
        count++;
        to++;
      }
      if (to > from) {
        slices.push({ pending, from, to });
        pending.next = to;
        pending.sending++;
      }
      if (to < pending.messages.length) break; // the send is full; the rest of this publish rides the next one
      this.dequeue(pending);
    }
    return slices;
  }

  private dequeue(pending: Pending): void {
    this.queue.shift();
    this.queuedBytes -= pending.bytes;
  }

  private async send(slices: Slice[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const { pending, from, to } of slices) {
      let list = byTopic.get(pending.topic);
      if (list === undefined) byTopic.set(pending.topic, (list = []));
      for (let i = from; i < to; i++) list.push(pending.messages[i]);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    let failure: Error | undefined;
    try {
      await this.producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
    } catch (error) {
      failure = unavailable(`Kafka refused the write: ${error instanceof Error ? error.message : String(error)}`);
    }
    for (const { pending } of slices) {
      pending.sending--;
      if (failure) settle(pending, failure);
      else if (pending.sending === 0 && pending.next === pending.messages.length) settle(pending);
    }
  }
}

// Callers share one headers object across a request's messages: measure it once.
let lastHeaders: Record<string, string> | null = null;
let lastHeadersSize = 0;

function recordSize(message: OutgoingMessage): number {
  if (message.headers !== lastHeaders) {
    lastHeadersSize = 0;
    for (const name in message.headers) lastHeadersSize += 10 + Buffer.byteLength(name) + Buffer.byteLength(message.headers[name]);
    lastHeaders = message.headers;
  }
  return RECORD_OVERHEAD + lastHeadersSize + message.value.length + (message.key === null ? 0 : Buffer.byteLength(message.key));
}

function settle(pending: Pending, error?: Error): void {
  if (pending.settled) return;
  pending.settled = true;
  if (error) pending.reject(error);
  else pending.resolve();
}

function unavailable(message: string): VigilError {
  return new VigilError('VIGIL_ERR_KAFKA_UNAVAILABLE', `${message}; retry later (records that carry the same ids are stored once)`, undefined, 2);
}
