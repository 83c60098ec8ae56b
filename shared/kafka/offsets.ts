/**
 * Offsets by time, for consumers that rebuild in-memory windows after an assignment (the alerter): for each
 * partition of a topic, the first offset whose broker timestamp is at or after `timestamp` and the high watermark
 * (the next offset to be written). A partition with nothing that recent answers its high watermark for both.
 * And the cluster id, which the writer's stored offsets are bound to.
 */
import { type Kafka, withAdmin } from './client.ts';
import { partitionOffsets } from './topics.ts';

export interface PartitionRange {
  /** First offset at or after the timestamp. */
  from: bigint;
  /** High watermark: one past the last record. */
  high: bigint;
}

export async function offsetsSince(
  kafka: Kafka,
  topic: string,
  timestamp: number,
): Promise<Map<number, PartitionRange>> {
  return withAdmin(kafka, async (admin) => {
    const [byTime, high] = await Promise.all([
      partitionOffsets(admin, topic, BigInt(timestamp)),
      partitionOffsets(admin, topic, -1n),
    ]);
    const out = new Map<number, PartitionRange>();
    for (const [partition, from] of byTime) {
      const h = high.get(partition) ?? 0n;
      out.set(partition, { from: from < 0n || from > h ? h : from, high: h });
    }
    return out;
  });
}

/** The id of the Kafka cluster `kafka` talks to: offsets are only meaningful within one cluster. */
export async function clusterIdOf(kafka: Kafka): Promise<string> {
  return withAdmin(kafka, async (admin) => (await admin.metadata({ topics: [] })).id);
}
