/**
 * Topic names, keys and headers of the Kafka contract (README "Kafka contract"):
 *   events  — partition of the source: keyed by it, or (gateway bundles) no key and that explicit partition;
 *             value: Avro Event or EventBundle, or JSON; header vigil-schema or content-type
 *   metrics — partition of the series fingerprint, likewise; value: Avro Metric or MetricBundle, or JSON
 *   dlq     — original key and bytes, headers vigil-dlq-* naming reason and provenance
 * Topics are created idempotently at startup and the call waits for partition leaders, because producing into
 * a topic whose leaders are not elected yet fails with "This server does not host this topic-partition".
 */
import type { Kafka } from 'kafkajs';
import type { Config } from '../config.ts';

const SETTLING_ATTEMPTS = 30;
const SETTLING_RETRY_MS = 500;

export const HEADER_SCHEMA = 'vigil-schema';
export const HEADER_CONTENT_TYPE = 'content-type';
export const HEADER_PRODUCER = 'vigil-producer';
/** The gateway's seal on a record it validated (shared/kafka/seal.ts). */
export const HEADER_SEAL = 'vigil-seal';
/** vigil-producer of the alerter's alert events (Avro): the only records whose created_by may name a system actor. */
export const PRODUCER_ALERTER = 'alerter';
export const PRODUCER_GATEWAY = 'gateway';

export async function ensureTopics(kafka: Kafka, config: Config['kafka']): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [config.topics.events, config.topics.metrics, config.topics.dlq];
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await retryWhileSettling(() =>
        admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: config.partitions,
            replicationFactor: config.replicationFactor,
            configEntries: topicConfig(config),
          })),
        }),
      );
    }
    // A KRaft broker can name a leader before it serves the partition (KAFKA-15780); a produce in that window fails
    // on some partitions and KafkaJS re-sends the whole request, duplicating the rest. Wait until every partition
    // answers a ListOffsets before anyone produces.
    for (const topic of wanted) await retryWhileSettling(() => admin.fetchTopicOffsets(topic));
    return missing;
  } finally {
    await admin.disconnect();
  }
}

/** Per-topic settings vigil sets; unset ones keep the broker's defaults. */
export function topicConfig(config: Config['kafka']): { name: string; value: string }[] {
  const minIsr = config.minInsyncReplicas;
  return minIsr === null ? [] : [{ name: 'min.insync.replicas', value: String(minIsr) }];
}

const SETTLING = new RegExp(
  [
    'does not host this topic-partition',
    'not the leader for that topic-partition',
    'leader not available',
    'There is no leader',
    'coordinator is loading',
    'Not controller',
  ].join('|'),
  'i',
);

/** Retries a metadata-changing admin call while a new topic or a fresh broker is still settling (up to ~15 s). */
async function retryWhileSettling<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const text = `${(error as Error).message} ${JSON.stringify((error as { errors?: unknown }).errors ?? '')}`;
      if (attempt >= SETTLING_ATTEMPTS || !SETTLING.test(text)) throw error;
      await new Promise((r) => setTimeout(r, SETTLING_RETRY_MS));
    }
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
