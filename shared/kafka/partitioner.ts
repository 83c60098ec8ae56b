/**
 * Which partition a key lands in, computed by KafkaJS's own DefaultPartitioner (Java-compatible murmur2, the one
 * every producer of vigil and the Java client use), so that records sent with an explicit partition land exactly
 * where records keyed by that key would. The metrics topic depends on it: the alerter owns a series through the
 * partition its fingerprint maps to, and the gateway sends metric bundles per partition, without a key.
 *
 * The partition count is the topic's, read from the broker's metadata and re-read in the background every
 * refreshMs (like a producer's metadata.max.age), so adding partitions moves keys as it would for keyed records.
 */
import { Partitioners, type Kafka, type PartitionMetadata } from 'kafkajs';
import { VigilError } from '../errors.ts';

type Partition = (args: {
  topic: string;
  partitionMetadata: PartitionMetadata[];
  message: { key: string; value: null };
}) => number;

/** The partition KafkaJS's DefaultPartitioner picks for `key` in a topic of `count` partitions. */
export function keyPartition(key: string, count: number): number {
  return defaultPartitioner({ topic: '', partitionMetadata: metadataOf(count), message: { key, value: null } });
}

const defaultPartitioner = Partitioners.DefaultPartitioner() as unknown as Partition;
const metadataCache = new Map<number, PartitionMetadata[]>();

function metadataOf(count: number): PartitionMetadata[] {
  let metadata = metadataCache.get(count);
  if (metadata === undefined) {
    metadata = Array.from({ length: count }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
    }));
    metadataCache.set(count, metadata);
  }
  return metadata;
}

export class TopicPartitioner {
  private count: number | null = null;
  private fetchedAt = 0;
  private fetching: Promise<number> | null = null;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly refreshMs = 60_000,
  ) {}

  /**
   * A function from key to partition with the topic's current partition count. Waits only when the count was
   * never read (the first call, or the broker was unreachable until now); a stale count is refreshed behind it.
   */
  async router(): Promise<(key: string) => number> {
    const stale = Date.now() - this.fetchedAt > this.refreshMs;
    if (this.count === null) await this.refresh();
    else if (stale) void this.refresh().catch(() => {}); // keep the known count while the broker does not answer
    const count = this.count!;
    return (key) => keyPartition(key, count);
  }

  private refresh(): Promise<number> {
    this.fetching ??= this.fetch().finally(() => (this.fetching = null));
    return this.fetching;
  }

  private async fetch(): Promise<number> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const { topics } = await admin.fetchTopicMetadata({ topics: [this.topic] });
      const count = topics[0]?.partitions.length ?? 0;
      if (count === 0) throw new Error(`topic ${this.topic} has no partitions`);
      this.count = count;
      this.fetchedAt = Date.now();
      return count;
    } catch (error) {
      if (this.count !== null) return this.count;
      throw new VigilError(
        'VIGIL_ERR_KAFKA_UNAVAILABLE',
        `could not read the partitions of ${this.topic}: ${(error as Error).message}; retry later`,
        undefined,
        2,
      );
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}
