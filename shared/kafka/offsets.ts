/**
 * Offsets by time, for consumers that rebuild in-memory windows after an assignment (the alerter): for each
 * partition of a topic, the first offset whose broker timestamp is at or after `timestamp` and the high watermark
 * (the next offset to be written). A partition with nothing that recent answers its high watermark for both.
 * And the cluster id, which the writer's stored offsets are bound to.
 */
import type { Kafka } from 'kafkajs';

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
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [byTime, latest] = await Promise.all([
      admin.fetchTopicOffsetsByTimestamp(topic, timestamp),
      admin.fetchTopicOffsets(topic),
    ]);
    const high = new Map(latest.map((p) => [p.partition, BigInt(p.high)]));
    const out = new Map<number, PartitionRange>();
    for (const p of byTime) {
      const h = high.get(p.partition) ?? 0n;
      const from = BigInt(p.offset);
      out.set(p.partition, { from: from < 0n || from > h ? h : from, high: h });
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** The id of the Kafka cluster `kafka` talks to: offsets are only meaningful within one cluster. */
export async function clusterIdOf(kafka: Kafka): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.describeCluster()).clusterId;
  } finally {
    await admin.disconnect();
  }
}
