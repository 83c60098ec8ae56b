/**
 * The one producer every vigil component uses: `@platformatic/kafka`'s, which costs several times less CPU per
 * produced record than KafkaJS 2.2.4 (bench/README.md, "Kafka clients").
 *
 * Every record is sent with acks=all and lands where KafkaJS's DefaultPartitioner (Java's) would put it: a keyed
 * record in murmur2(key) & 0x7fffffff modulo the partition count (`compatibilityPartitioner`; the library's default
 * drops the sign differently), a record with an explicit partition there, a record with neither round-robin.
 *
 * Retries are whole sends (`sendWhole`): the client retries nothing itself (`retries: 0`), and each attempt
 * forgets the cluster metadata first, so that it maps every partition to the leader known now (after a broker
 * death the cached metadata would still name the dead leader for up to `metadataMaxAge`). A send that failed for
 * some partitions rejects whole (the client reports the partitions' errors, it never resolves a partial write),
 * so an acknowledged send is a written one; infra/kafka/cluster.fault.test.ts proves it on a 3-broker cluster.
 */
import { compatibilityPartitioner, ProduceAcks, Producer, type MessageToProduce } from '@platformatic/kafka';
import { baseOptions, type ClientSettings } from './client.ts';
import { sendWhole, type WholeSendRetry } from './whole-send.ts';

/** A record as produced: key and value bytes (strings are UTF-8), headers as a name → value map. */
export type OutgoingRecord = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;

export type Compression = 'none' | 'gzip';

/** Header names and values as the client sends them; build once per header set and reuse. */
export function headerMap(headers: Readonly<Record<string, string>>): Map<Buffer, Buffer> {
  return new Map(Object.entries(headers).map(([name, value]) => [Buffer.from(name), Buffer.from(value)]));
}

/** Whether the broker answered `code` (a Kafka protocol error name, e.g. MESSAGE_TOO_LARGE) for any record. */
export function refusedWith(error: unknown, code: string): boolean {
  const { apiId, errors } = (error ?? {}) as { apiId?: string; errors?: unknown[] };
  return apiId === code || (Array.isArray(errors) && errors.some((e) => refusedWith(e, code)));
}

export class RecordProducer {
  private readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>;

  constructor(settings: ClientSettings) {
    this.producer = new Producer({
      ...baseOptions(settings),
      retries: 0, // retried whole in send()
      acks: ProduceAcks.ALL,
      idempotent: false,
      autocreateTopics: false,
      partitioner: compatibilityPartitioner,
    });
  }

  /** Reaches a broker and reads the cluster metadata (retried like a send): rejects when no broker answers. */
  async connect(): Promise<void> {
    await sendWhole(() => this.producer.metadata({ topics: [] }));
  }

  /**
   * The topic's partition count in this producer's metadata (cached up to the client's metadata age, 5 s): what
   * its sends with an explicit partition are checked against (a partition beyond it is taken modulo it).
   */
  async partitionCount(topic: string): Promise<number> {
    const metadata = await this.producer.metadata({ topics: [topic] });
    return metadata.topics.get(topic)?.partitionsCount ?? 0;
  }

  /** Resolves once Kafka acknowledged every record with acks=all; retries retriable failures as whole sends. */
  async send(messages: OutgoingRecord[], compression: Compression = 'none', retry?: WholeSendRetry): Promise<void> {
    let attempt = 0;
    await sendWhole(() => {
      if (attempt++ > 0) this.producer.clearMetadata();
      // Per send: the client applies its constructor's acks to idempotent sends only (others default to acks=1).
      return this.producer.send({ messages, compression, acks: ProduceAcks.ALL });
    }, retry);
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}
