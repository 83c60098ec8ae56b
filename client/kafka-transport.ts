/**
 * Delivery straight to Kafka, for services that sit next to the broker and want to skip the gateway: events on the
 * events topic keyed by source, metric samples on the metrics topic keyed by series fingerprint, JSON values (the
 * writer validates them exactly like HTTP input and dead-letters what it refuses). Loaded by dynamic import only
 * when configured, so HTTP-only users never load the Kafka client.
 */
import { JsonProducer } from '../shared/kafka/json-producer.ts';
import { refusedWith } from '../shared/kafka/record-producer.ts';
import { withTimeout } from '../shared/wait.ts';
import type { QueuedItem } from './encode.ts';
import type { SendOutcome, StreamKind, Transport } from './transport.ts';

export interface KafkaTransportOptions {
  brokers: string[];
  /** Default: the README's topic names. */
  topics?: Partial<Record<StreamKind, string>>;
  clientId?: string;
}

export const DEFAULT_TOPICS: Record<StreamKind, string> = {
  events: 'monitoring.events.v1',
  metrics: 'monitoring.metrics.v1',
};

export class KafkaTransport implements Transport {
  private readonly producer: JsonProducer;
  private readonly topics: Record<StreamKind, string>;

  constructor(opts: KafkaTransportOptions, producerName: string) {
    this.topics = { ...DEFAULT_TOPICS, ...opts.topics };
    this.producer = new JsonProducer({
      brokers: opts.brokers,
      clientId: opts.clientId ?? `vigil-client-${producerName}`,
      producerName,
    });
  }

  async send(kind: StreamKind, items: readonly QueuedItem[], deadline: number): Promise<SendOutcome> {
    try {
      await beforeDeadline(
        this.producer.send(
          this.topics[kind],
          items.map((i) => ({ key: i.key, value: i.json })),
        ),
        deadline,
      );
      return { type: 'delivered', rejected: 0, detail: null };
    } catch (error) {
      const reason = `Kafka ${this.topics[kind]}: ${(error as Error).message}`;
      // Message too large for the broker: halve the batch like a 413.
      if (refusedWith(error, 'MESSAGE_TOO_LARGE')) return { type: 'too_large', reason };
      return { type: 'retry', retryAfterMs: null, reason };
    }
  }

  async close(): Promise<void> {
    await this.producer.disconnect().catch(() => {});
  }
}

/** A Kafka send cannot be cancelled: at shutdown, stop waiting at the deadline (the send may still land). */
async function beforeDeadline(send: Promise<void>, deadline: number): Promise<void> {
  if (deadline === Infinity) return send;
  await withTimeout(send, Math.max(0, deadline - Date.now()), () => {
    throw new Error('no acknowledgement before the shutdown deadline');
  });
}
