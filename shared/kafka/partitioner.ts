/**
 * Which partition a key lands in under Kafka's default partitioner — Java's murmur2 of the key's UTF-8 bytes,
 * & 0x7fffffff, modulo the partition count, as the Java client, KafkaJS and `@platformatic/kafka`'s compatibility
 * partitioner compute it — so that records sent with an explicit partition land exactly where records keyed by that
 * key would. The gateway depends on it for both topics: it bundles events and metric samples per partition (the
 * partition of the event's source, of the sample's series fingerprint) and sends the bundles without a key, and
 * the alerter owns a source or a series through that partition.
 *
 * murmur2 is computed here in 32-bit integer arithmetic: KafkaJS's goes through its 64-bit Long emulation (4–5.5 µs
 * per key) and `@platformatic/kafka`'s through BigInt (1.3–2 µs), against 0.1–0.16 µs here (bench/partitioner.ts),
 * once per event or sample. partitioner.test.ts proves it equal to KafkaJS's on random keys and to Java's on the
 * reference keys of Kafka's own tests.
 *
 * The partition count is the one the sending producer's own metadata holds (`PartitionCounts`, the gateway's
 * BatchingProducer), re-read in the background every refreshMs: adding partitions moves keys as it would for keyed
 * records, and a route never names a partition the producer does not know yet — its client would take such a
 * partition modulo the count it knows, sending the bundle where neither count puts the key. Partitions are only ever
 * added, so the count a route was made with is at most the one a later send sees (short of a broker whose metadata
 * lags behind the one that answered before).
 */
import { VigilError } from '../errors.ts';
import { withTimeout } from '../wait.ts';

// Java's Utils.murmur2: seed and mixing constants, and its shifts.
const MURMUR_SEED = 0x9747b28c;
const MURMUR_M = 0x5bd1e995;
const MURMUR_R = 24;
const FINAL_SHIFT_1 = 13;
const FINAL_SHIFT_2 = 15;
const BYTE_2 = 8;
const BYTE_3 = 16;
const BYTE_4 = 24;
/** Java's Utils.toPositive: the sign bit dropped, not the absolute value. */
const POSITIVE = 0x7fffffff;
/** UTF-8 takes at most 3 bytes per UTF-16 code unit. */
const MAX_UTF8_PER_UNIT = 3;
/** murmur2 mixes the key four bytes at a time (little-endian), then the 1–3 bytes left. */
const WORD_BYTES = 4;
const LAST_OF_THREE = 2;
const LAST_OF_FOUR = 3;
const INITIAL_SCRATCH_BYTES = 256;

const encoder = new TextEncoder();
let scratch = new Uint8Array(INITIAL_SCRATCH_BYTES);

/** Java's murmur2 (org.apache.kafka.common.utils.Utils) of the UTF-8 bytes of `key`, as a signed 32-bit integer. */
export function murmur2(key: string): number {
  if (key.length * MAX_UTF8_PER_UNIT > scratch.length) scratch = new Uint8Array(key.length * MAX_UTF8_PER_UNIT);
  const data = scratch;
  const length = encoder.encodeInto(key, data).written;
  let h = MURMUR_SEED ^ length;
  const left = length % WORD_BYTES;
  const whole = length - left;
  for (let i = 0; i < whole; i += WORD_BYTES) {
    let k = data[i] | (data[i + 1] << BYTE_2) | (data[i + 2] << BYTE_3) | (data[i + LAST_OF_FOUR] << BYTE_4);
    k = Math.imul(k, MURMUR_M);
    k ^= k >>> MURMUR_R;
    k = Math.imul(k, MURMUR_M);
    h = Math.imul(h, MURMUR_M) ^ k;
  }
  if (left > 0) {
    if (left > LAST_OF_THREE) h ^= data[whole + LAST_OF_THREE] << BYTE_3;
    if (left > 1) h ^= data[whole + 1] << BYTE_2;
    h ^= data[whole];
    h = Math.imul(h, MURMUR_M);
  }
  h ^= h >>> FINAL_SHIFT_1;
  h = Math.imul(h, MURMUR_M);
  h ^= h >>> FINAL_SHIFT_2;
  return h | 0;
}

/** The partition Kafka's default partitioner picks for `key` in a topic of `count` partitions. */
export function keyPartition(key: string, count: number): number {
  return (murmur2(key) & POSITIVE) % count;
}

/** What routes a key to its partition: a TopicPartitioner, or a fixed count (tests, benchmarks). */
export interface PartitionRouter {
  /** A function from key to partition with the topic's current partition count. */
  router(): Promise<(key: string) => number>;
}

/** A router for a topic of `count` partitions that never asks the broker. */
export function fixedPartitions(count: number): PartitionRouter {
  const route = memoisedRoute(count);
  return { router: async () => route };
}

/**
 * Keys remembered per route: a gateway sees the same sources and series again and again (a lookup costs ~20 ns, a
 * hash of a short key ~150 ns); cleared when full, so that a stream of new keys costs one hash each and bounded memory.
 */
const MEMO_KEYS = 4096;

function memoisedRoute(count: number): (key: string) => number {
  const memo = new Map<string, number>();
  return (key) => {
    let partition = memo.get(key);
    if (partition === undefined) {
      if (memo.size >= MEMO_KEYS) memo.clear();
      memo.set(key, (partition = keyPartition(key, count)));
    }
    return partition;
  };
}

/** Where a topic's partition count comes from: the producer that sends what is routed (its cached metadata). */
export interface PartitionCounts {
  partitionCount(topic: string): Promise<number>;
}

export interface TopicPartitionerOptions {
  /** How often the partition count is read again (in the background, behind the known count). */
  refreshMs?: number;
  /**
   * How long a caller waits for the count when it was never read (the broker unreachable since startup): then
   * router() rejects with VIGIL_ERR_KAFKA_UNAVAILABLE and the read goes on behind it. Callers pass their own
   * deadline (the gateway: the produce deadline), so that no request waits on the client's connection retries.
   */
  waitMs: number;
}

const DEFAULT_REFRESH_MS = 60_000;

export class TopicPartitioner implements PartitionRouter {
  private count: number | null = null;
  private fetchedAt = 0;
  private fetching: Promise<number> | null = null;
  private route: ((key: string) => number) | null = null;
  private routeCount = 0;
  private readonly refreshMs: number;
  private readonly waitMs: number;

  constructor(
    private readonly counts: PartitionCounts,
    readonly topic: string,
    opts: TopicPartitionerOptions,
  ) {
    this.refreshMs = opts.refreshMs ?? DEFAULT_REFRESH_MS;
    this.waitMs = opts.waitMs;
  }

  /** Starts reading the partition count now (at startup), so that the first request finds it known. */
  warm(): void {
    void this.refresh().catch(() => {}); // a request that needs it reads it again
  }

  /**
   * A function from key to partition with the topic's current partition count. Waits only when the count was
   * never read (the first call, or the broker was unreachable until now), at most waitMs; a stale count is
   * refreshed behind it.
   */
  async router(): Promise<(key: string) => number> {
    const stale = Date.now() - this.fetchedAt > this.refreshMs;
    if (this.count === null) await this.firstCount();
    else if (stale) void this.refresh().catch(() => {}); // keep the known count while the broker does not answer
    const count = this.count!;
    if (this.route === null || this.routeCount !== count) {
      this.route = memoisedRoute(count);
      this.routeCount = count;
    }
    return this.route;
  }

  private async firstCount(): Promise<void> {
    const reading = this.refresh();
    reading.catch(() => {}); // rejected after the deadline: nobody waits for it any more
    await withTimeout(reading, this.waitMs, () => {
      throw unavailable(`the partitions of ${this.topic} were not read within ${this.waitMs} ms`);
    });
  }

  private refresh(): Promise<number> {
    this.fetching ??= this.fetch().finally(() => (this.fetching = null));
    return this.fetching;
  }

  private async fetch(): Promise<number> {
    try {
      const count = await this.counts.partitionCount(this.topic);
      if (!(count > 0)) throw new Error(`topic ${this.topic} has no partitions`);
      // The producer's count as it is, also when a broker whose metadata lags makes it smaller for a while: a route
      // by a larger count than the producer's would name partitions its client takes modulo the count it knows.
      this.count = count;
      this.fetchedAt = Date.now();
      return this.count;
    } catch (error) {
      if (this.count !== null) return this.count;
      throw unavailable(`could not read the partitions of ${this.topic}: ${(error as Error).message}`);
    }
  }
}

function unavailable(why: string): VigilError {
  return new VigilError('VIGIL_ERR_KAFKA_UNAVAILABLE', `${why}; retry later`, undefined, RETRY_AFTER_SECONDS);
}

/** Retry-After of a request refused because the partitions could not be read. */
const RETRY_AFTER_SECONDS = 2;
