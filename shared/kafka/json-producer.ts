/**
 * A JSON producer for processes outside vigil that publish straight to its topics (the client SDK's Kafka mode).
 * It builds its own small KafkaJS client, because the roles' createKafka() wants the server's Config and pino.
 * Every record follows the README's Kafka contract for JSON: header `content-type: application/json`, header
 * `vigil-producer: <name>` (stored as created_by = kafka:<name>), value = one event or metric sample as JSON.
 * send() resolves after acks=all and rejects on any failure; retrying is the caller's decision.
 */
import { CompressionTypes, Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { HEADER_CONTENT_TYPE, HEADER_PRODUCER } from './topics.ts';
import { NO_KAFKAJS_RETRIES, sendWhole } from './whole-send.ts';

export interface JsonProducerOptions {
  brokers: string[];
  clientId: string;
  /** Recorded in the vigil-producer header. */
  producerName: string;
}

export interface JsonRecord {
  key: string | null;
  /** JSON text. */
  value: string;
}

export class JsonProducer {
  private readonly producer: Producer;
  private readonly headers: Record<string, string>;
  private connecting: Promise<void> | null = null;

  constructor(opts: JsonProducerOptions) {
    const kafka = new Kafka({
      clientId: opts.clientId,
      brokers: [...opts.brokers],
      connectionTimeout: 3000,
      requestTimeout: 10_000,
      // The caller retries with its own backoff; KafkaJS' own retries would only hide an outage for longer.
      retry: { retries: 1, initialRetryTime: 200, maxRetryTime: 1000 },
      logLevel: logLevel.NOTHING,
    });
    this.producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      retry: NO_KAFKAJS_RETRIES,
    });
    this.producer.on(this.producer.events.DISCONNECT, () => (this.connecting = null));
    this.headers = { [HEADER_CONTENT_TYPE]: 'application/json', [HEADER_PRODUCER]: opts.producerName };
  }

  async send(topic: string, records: readonly JsonRecord[]): Promise<void> {
    await this.connect();
    await sendWhole(() =>
      this.producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: records.map((r) => ({ key: r.key, value: r.value, headers: this.headers })),
      }),
    );
  }

  async disconnect(): Promise<void> {
    this.connecting = null;
    await this.producer.disconnect();
  }

  private connect(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((error: unknown) => {
      this.connecting = null;
      throw error;
    });
    return this.connecting;
  }
}
