/**
 * Topic names, keys and headers of the Kafka contract (README "Kafka contract"):
 *   events  — key: source,             value: Avro Event  or JSON, header vigil-schema or content-type
 *   metrics — key: series fingerprint, value: Avro Metric or JSON
 *   dlq     — original key and bytes, headers vigil-dlq-* naming reason and provenance
 * Topics are created idempotently at startup and the call waits for partition leaders, because producing into
 * a topic whose leaders are not elected yet fails with "This server does not host this topic-partition".
 */
import type { Kafka } from 'kafkajs';
import type { Config } from '../config.ts';

export const HEADER_SCHEMA = 'vigil-schema';
export const HEADER_CONTENT_TYPE = 'content-type';
export const HEADER_PRODUCER = 'vigil-producer';

export async function ensureTopics(kafka: Kafka, config: Config['kafka']): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [config.topics.events, config.topics.metrics, config.topics.dlq];
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: config.partitions,
          replicationFactor: config.replicationFactor,
        })),
      });
    }
    return missing;
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}
