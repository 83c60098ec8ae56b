/**
 * The one place that writes dead letters. A DLQ record keeps the original key and value bytes and the original
 * headers, plus provenance headers:
 *   vigil-dlq-reason     short machine reason (decode_failed, unknown_schema, invalid, rejected_by_database)
 *   vigil-dlq-detail     human-readable detail (validation errors, database message)
 *   vigil-dlq-topic / vigil-dlq-partition / vigil-dlq-offset   where the record came from
 *   vigil-dlq-at         ISO time it was dead-lettered
 */
import type { Kafka, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import type { ConsumedRecord } from './consumer.ts';

export const DLQ_HEADER_PREFIX = 'vigil-dlq-';

export interface DeadLetter {
  record: ConsumedRecord;
  topic: string;
  partition: number;
  reason: string;
  detail: string;
}

export class DeadLetterWriter {
  private readonly producer: Producer;

  constructor(kafka: Kafka, private readonly dlqTopic: string) {
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }

  /** Resolves once Kafka acknowledged every dead letter with acks=all. */
  async write(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.producer.send({
      topic: this.dlqTopic,
      acks: -1,
      messages: letters.map(({ record, topic, partition, reason, detail }) => ({
        key: record.key,
        value: record.value,
        headers: {
          ...record.headers,
          [`${DLQ_HEADER_PREFIX}reason`]: reason,
          [`${DLQ_HEADER_PREFIX}detail`]: detail.slice(0, 4000),
          [`${DLQ_HEADER_PREFIX}topic`]: topic,
          [`${DLQ_HEADER_PREFIX}partition`]: String(partition),
          [`${DLQ_HEADER_PREFIX}offset`]: record.offset,
          [`${DLQ_HEADER_PREFIX}at`]: new Date().toISOString(),
        },
      })),
    });
  }
}
