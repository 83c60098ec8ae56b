/**
 * A JSON producer for processes outside vigil that publish straight to its topics (the client SDK's Kafka mode).
 * It builds its own RecordProducer, because the roles' createKafka() wants the server's Config and pino.
 * Every record follows the README's Kafka contract for JSON: header `content-type: application/json`, header
 * `vigil-producer: <name>` (stored as created_by = kafka:<name>), value = one event or metric sample as JSON.
 * send() resolves after acks=all and rejects on any failure; retrying is the caller's decision.
 */
import { headerMap, RecordProducer } from './record-producer.ts';
import { HEADER_CONTENT_TYPE, HEADER_PRODUCER } from './topics.ts';
import type { WholeSendRetry } from './whole-send.ts';

const CONNECT_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 10_000;
/** The caller retries with its own backoff; retrying long here would only hide an outage for longer. */
const SEND_RETRY: WholeSendRetry = { retries: 1, initialRetryTimeMs: 200, maxRetryTimeMs: 1000 };

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
  private readonly producer: RecordProducer;
  private readonly headers: Map<Buffer, Buffer>;

  constructor(opts: JsonProducerOptions) {
    this.producer = new RecordProducer({
      clientId: opts.clientId,
      brokers: opts.brokers,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    this.headers = headerMap({ [HEADER_CONTENT_TYPE]: 'application/json', [HEADER_PRODUCER]: opts.producerName });
  }

  /** Connects on first use (and again after a broker outage) by itself. */
  async send(topic: string, records: readonly JsonRecord[]): Promise<void> {
    const messages = records.map((r) => ({
      topic,
      key: r.key === null ? undefined : Buffer.from(r.key),
      value: Buffer.from(r.value),
      headers: this.headers,
    }));
    await this.producer.send(messages, 'gzip', SEND_RETRY);
  }

  async disconnect(): Promise<void> {
    await this.producer.close();
  }
}
