/**
 * Topic names, keys and headers of the Kafka contract (README "Kafka contract"):
 *   events  — partition of the source: keyed by it, or (gateway bundles) no key and that explicit partition;
 *             value: Avro Event or EventBundle, or JSON; header vigil-schema or content-type
 *   metrics — partition of the series fingerprint, likewise; value: Avro Metric or MetricBundle, or JSON
 *   dlq     — original key and bytes, headers vigil-dlq-* naming reason and provenance
 * Topics are created idempotently at startup and the call waits for partition leaders, because producing into
 * a topic whose leaders are not elected yet fails with "This server does not host this topic-partition".
 */
import type { Admin } from '@platformatic/kafka';
import type { Config } from '../config.ts';
import { type Kafka, withAdmin } from './client.ts';
import { refusedWith } from './record-producer.ts';
import { isRetriable } from './whole-send.ts';

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
  return withAdmin(kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const wanted = [config.topics.events, config.topics.metrics, config.topics.dlq];
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await retryWhileSettling(admin, async () => {
        try {
          await admin.createTopics({
            topics: missing,
            partitions: config.partitions,
            replicas: config.replicationFactor,
            configs: topicConfig(config),
          });
        } catch (error) {
          // Another process created them first (roles start side by side): what this call wanted exists.
          if (!refusedWith(error, 'TOPIC_ALREADY_EXISTS')) throw error;
        }
      });
    }
    // A new topic's partitions have no leader for a moment, and a KRaft broker can name a leader before it serves
    // the partition (KAFKA-15780): wait until every partition answers a ListOffsets before anyone produces.
    for (const topic of wanted) await retryWhileSettling(admin, () => latestOffsets(admin, topic));
    return missing;
  });
}

/** Per-topic settings vigil sets; unset ones keep the broker's defaults. */
export function topicConfig(config: Config['kafka']): { name: string; value: string }[] {
  const minIsr = config.minInsyncReplicas;
  return minIsr === null ? [] : [{ name: 'min.insync.replicas', value: String(minIsr) }];
}

/** Each partition's offset at `timestamp` (-1n: the high watermark; -2n: the first offset), by partition. */
export async function partitionOffsets(admin: Admin, topic: string, timestamp: bigint): Promise<Map<number, bigint>> {
  const metadata = await admin.metadata({ topics: [topic] });
  const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
  const partitions = Array.from({ length: count }, (_, partitionIndex) => ({ partitionIndex, timestamp }));
  const [listed] = await admin.listOffsets({ topics: [{ name: topic, partitions }] });
  return new Map((listed?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]));
}

const latestOffsets = (admin: Admin, topic: string) => partitionOffsets(admin, topic, -1n);

/**
 * Retries an admin call while a new topic or a fresh broker is still settling (up to ~15 s): failures the client
 * marks retriable (no leader yet, not the leader, the coordinator loading), with the cluster metadata read again.
 */
async function retryWhileSettling<T>(admin: Admin, work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= SETTLING_ATTEMPTS || !settling(error)) throw error;
      admin.clearMetadata();
      await new Promise((r) => setTimeout(r, SETTLING_RETRY_MS));
    }
  }
}

function settling(error: unknown): boolean {
  const { hasStaleMetadata, errors } = (error ?? {}) as { hasStaleMetadata?: boolean; errors?: unknown[] };
  if (Array.isArray(errors) && errors.length > 0) return errors.every(settling);
  return hasStaleMetadata === true || isRetriable(error);
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present });
  });
}
