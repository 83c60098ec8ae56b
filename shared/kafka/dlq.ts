/**
 * The one place that writes dead letters. A DLQ record keeps the original key and value bytes and the original
 * headers, plus provenance headers:
 *   vigil-dlq-reason     short machine reason (DLQ_REASONS below)
 *   vigil-dlq-detail     human-readable detail (validation errors, database message)
 *   vigil-dlq-topic / vigil-dlq-partition / vigil-dlq-offset   where the record came from
 *   vigil-dlq-at         ISO time it was dead-lettered
 * A record that carries a bundle of items and could be decoded has its failing items dead-lettered one by one: the
 * letter's value is the item alone (re-encoded with the item schema, or JSON), its headers the record's with the
 * item's encoding header instead of the bundle's, plus
 *   vigil-dlq-item       the item's position in the bundle (0-based)
 * so a letter can be replayed by publishing its value and headers to the source topic.
 * Dead letters are produced (acks=all) BEFORE the processor commits its own transaction: if that transaction then
 * fails and is retried, a letter may be written twice, never zero times. topic/partition/offset identify it.
 */
import { Counter, type Registry } from 'prom-client';
import type { Kafka } from './client.ts';
import type { ConsumedRecord } from './consumer.ts';
import { headerMap, RecordProducer } from './record-producer.ts';

/** Longest detail header a dead-letter record carries. */
const DETAIL_MAX_CHARS = 4000;

export const DLQ_HEADER_PREFIX = 'vigil-dlq-';

export const DLQ_REASONS = {
  empty_value: 'the record has no value',
  decode_failed: 'neither valid Avro for the named schema nor JSON',
  unknown_schema: 'the vigil-schema header names a schema this version does not know',
  invalid: 'decoded, but fails the validation HTTP input passes',
  rejected_by_database: 'valid, but PostgreSQL refused the row (the detail says why)',
  series_limit:
    'a new series of a metric name that already has METRICS_MAX_SERIES_PER_NAME series (the detail names it)',
} as const;
export type DeadLetterReason = keyof typeof DLQ_REASONS;

const COUNTER_NAME = 'vigil_dlq_records_total';

/** One item of a bundle, on its own. */
export interface DeadLetterItem {
  index: number;
  value: Buffer;
  /** The item's encoding header (vigil-schema of the item schema, or content-type), replacing the record's. */
  headers: Record<string, string>;
}

export interface DeadLetter {
  record: ConsumedRecord;
  topic: string;
  partition: number;
  reason: DeadLetterReason;
  detail: string;
  /** Set when the letter is one item of the record's bundle, not the whole record. */
  item?: DeadLetterItem | null;
}

export class DeadLetterWriter {
  private readonly producer: RecordProducer;
  private readonly counter: Counter<'topic' | 'reason'>;

  constructor(
    kafka: Kafka,
    private readonly dlqTopic: string,
    registry: Registry,
  ) {
    this.producer = new RecordProducer(kafka.settings);
    this.counter =
      (registry.getSingleMetric(COUNTER_NAME) as Counter<'topic' | 'reason'> | undefined) ??
      new Counter({
        name: COUNTER_NAME,
        help: 'Records dead-lettered, by source topic and reason (counted once the processor committed)',
        labelNames: ['topic', 'reason'],
        registers: [registry],
      });
  }

  /** Counts letters whose processing committed (call after the processor's own commit). */
  counted(letters: readonly DeadLetter[]): void {
    for (const letter of letters) this.counter.inc({ topic: letter.topic, reason: letter.reason });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  disconnect(): Promise<void> {
    return this.producer.close();
  }

  /** Resolves once Kafka acknowledged every dead letter with acks=all. */
  async write(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.producer.send(
      letters.map(({ record, topic, partition, reason, detail, item }) => ({
        topic: this.dlqTopic,
        key: record.key ?? undefined,
        value: (item ? item.value : record.value) ?? undefined,
        headers: headerMap({
          ...record.headers,
          ...item?.headers,
          ...(item ? { [`${DLQ_HEADER_PREFIX}item`]: String(item.index) } : {}),
          [`${DLQ_HEADER_PREFIX}reason`]: reason,
          [`${DLQ_HEADER_PREFIX}detail`]: detail.slice(0, DETAIL_MAX_CHARS),
          [`${DLQ_HEADER_PREFIX}topic`]: topic,
          [`${DLQ_HEADER_PREFIX}partition`]: String(partition),
          [`${DLQ_HEADER_PREFIX}offset`]: record.offset,
          [`${DLQ_HEADER_PREFIX}at`]: new Date().toISOString(),
        }),
      })),
    );
  }
}
