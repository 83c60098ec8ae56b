/**
 * KafkaJS's DefaultPartitioner (Java's murmur2, computed in its 64-bit Long emulation): where vigil put keyed records
 * until it computed the partition itself. The reference shared/kafka/partitioner.ts is tested and benchmarked against.
 */
import { Partitioners, type PartitionMetadata } from 'kafkajs';

const partitioner = Partitioners.DefaultPartitioner() as unknown as (args: {
  topic: string;
  partitionMetadata: PartitionMetadata[];
  message: { key: string; value: null };
}) => number;
const metadata = new Map<number, PartitionMetadata[]>();

/** The partition KafkaJS's DefaultPartitioner picks for `key` in a topic of `count` partitions. */
export function kafkajsPartition(key: string, count: number): number {
  let partitionMetadata = metadata.get(count);
  if (partitionMetadata === undefined) {
    partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
    }));
    metadata.set(count, partitionMetadata);
  }
  return partitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
}
