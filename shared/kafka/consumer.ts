/**
 * A partition-batch consumer for processors that keep their own offsets (the writer stores them in PostgreSQL).
 * Built on `@platformatic/kafka`'s consumer for group membership only (join, sync, heartbeats on a timer of their
 * own, rejoining when the group rebalances); fetching is this module's loop: the client's `fetch()` sent to each
 * partition's leader at positions kept here, so a processor can move a partition's position at any time (`seek`),
 * which the client's message streams do not allow.
 *
 * Pipelined: when onBatch returns, the fetch position moves past the batch (unless onBatch seeked), so the next
 * fetch runs while the processor is still writing what it took; the processor bounds what it holds by making
 * onBatch wait. Nothing is committed automatically: Kafka's committed offset advances only through commit(), which
 * the processor calls once a batch is durable, so it lags the processor's own store and serves for lag monitoring;
 * the processor's store is the truth on (re)assignment, when the fetch position restarts from Kafka's committed
 * offset (the first offset when none is committed) unless the processor seeks first.
 * onAssignment is called at EVERY join of the group (a new generation), also when the assignment did not change:
 * a member that was stalled past its session and rejoined with the same partitions may have lost them meanwhile.
 * A batch is stale once its generation is over or the member is rejoining; stale batches are not delivered.
 *
 * The client finds the group's coordinator once and keeps it for its lifetime: when that broker dies, every group
 * request of the client fails from then on (and, once the broker left the cluster metadata, threw from inside the
 * client). So a group request is refused cleanly for a broker the metadata no longer names (`CoordinatorSafeConsumer`),
 * and the member moves to a NEW client — which looks the coordinator up again — when a join fails or when no
 * heartbeat succeeded for a session timeout (by then the group has expelled the member anyway).
 */
import { Consumer, IS_CONTROL, kGetConnection, UserError, type RecordsBatch } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { backoffMs, withTimeout } from '../wait.ts';
import { baseOptions, type Kafka } from './client.ts';

const DEFAULT_SESSION_TIMEOUT_MS = 30_000;
/** Heartbeats are sent three times per session timeout, and at least every 3 s. */
const HEARTBEATS_PER_SESSION_TIMEOUT = 3;
const MAX_HEARTBEAT_INTERVAL_MS = 3000;
/** How long the group waits for every member to rejoin when it rebalances (at least the session timeout). */
const REBALANCE_TIMEOUT_MS = 60_000;
/** A fetch answers at most this many partitions' worth of bytes at once. */
const FETCH_PARTITIONS_PER_REQUEST = 4;
/** Retries of the client's own group and metadata requests; the loops here retry on top with backoff. */
const CLIENT_RETRIES = 3;
/** How long the fetch loop sleeps when it has nothing to fetch (not joined, paused); woken early by a change. */
const IDLE_MS = 100;
const RETRY_INITIAL_MS = 200;
const RETRY_MAX_MS = 5000;
/** How long closing a client (leaving the group) may take before it is abandoned. */
const CLOSE_TIMEOUT_MS = 10_000;

/** Kafka error codes the fetch loop acts on. */
const OFFSET_OUT_OF_RANGE = 1;
const EARLIEST = -2n;

export interface ConsumedRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Broker timestamp, epoch ms as string. */
  timestamp: string;
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  highWatermark: string;
}

export interface BatchControl {
  /** Kept for processors that wait long inside onBatch: heartbeats run on their own timer, so this only yields. */
  heartbeat(): Promise<void>;
  /** Re-read the partition from `offset`; the rest of the current batch is discarded. */
  seek(offset: string): void;
  isRunning(): boolean;
  isStale(): boolean;
}

export interface BatchConsumerOptions {
  groupId: string;
  topics: string[];
  maxWaitMs: number;
  maxBytesPerPartition: number;
  /** Group session timeout: how long a crashed member keeps its partitions. */
  sessionTimeoutMs?: number;
  /** Takes the batch; when it resolves without having seeked, the next fetch starts after the batch. */
  onBatch(batch: PartitionBatch, control: BatchControl): Promise<void>;
  /** Called at every join of the group (same assignment or not), before any batch of the new generation. */
  onAssignment?(assignment: Record<string, number[]>): void;
}

interface Assigned {
  topic: string;
  partition: number;
  key: string;
}

interface Requested extends Assigned {
  offset: bigint;
}

type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;

const keyOf = (topic: string, partition: number) => `${topic}:${partition}`;

export class BatchConsumer {
  /** The current client; replaced when its coordinator is gone (see above). */
  private consumer: Consumer;
  private readonly settings: Kafka['settings'];
  private readonly groupOptions: { sessionTimeout: number; heartbeatInterval: number; rebalanceTimeout: number };
  /** Counts joins of the group: a batch fetched in an earlier generation is stale. */
  private generation = 0;
  private assigned: Assigned[] = [];
  /** The same partitions as the join answered them, by topic. */
  private assignment: { topic: string; partitions: number[] }[] = [];
  /** Each assigned partition's next offset to fetch; absent while it is being looked up after a join. */
  private readonly positions = new Map<string, bigint>();
  /** Partitions whose position was set by seek() since the mark was cleared (during their onBatch). */
  private readonly seeked = new Set<string>();
  /** Partition count of each topic when the group was joined: more partitions need a new assignment. */
  private partitionCounts = new Map<string, number>();
  private running = false;
  private stopped = false;
  private paused = false;
  private joined = false;
  private lastBatchAt = Date.now();
  private inBatch = 0;
  /** The delivery of the latest answer: the next waits for it. */
  private deliveries: Promise<void> = Promise.resolve();
  private fetching: Promise<void> | null = null;
  /** Wakes the loops' sleeps early (a join, a seek, stop). */
  private readonly sleepers = new Set<() => void>();
  private rejoining: Promise<void> | null = null;
  private joining: Promise<void> | null = null;
  /** When the current client last heard from the coordinator (a heartbeat answered, a join). */
  private lastHeartbeatAt = Date.now();
  private watchdog: NodeJS.Timeout | null = null;

  constructor(
    kafka: Kafka,
    private readonly opts: BatchConsumerOptions,
    private readonly logger: Logger,
  ) {
    const sessionTimeout = opts.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    this.groupOptions = {
      sessionTimeout,
      heartbeatInterval: Math.min(
        MAX_HEARTBEAT_INTERVAL_MS,
        Math.floor(sessionTimeout / HEARTBEATS_PER_SESSION_TIMEOUT),
      ),
      rebalanceTimeout: Math.max(sessionTimeout, REBALANCE_TIMEOUT_MS),
    };
    this.settings = kafka.settings;
    this.consumer = this.createClient();
  }

  private createClient(): Consumer {
    const client = new CoordinatorSafeConsumer({
      ...baseOptions(this.settings),
      ...this.groupOptions,
      groupId: this.opts.groupId,
      retries: CLIENT_RETRIES,
      minBytes: 1,
      maxWaitTime: this.opts.maxWaitMs,
      maxBytes: this.opts.maxBytesPerPartition * FETCH_PARTITIONS_PER_REQUEST,
      autocommit: false,
    });
    client.topics.trackAll(...this.opts.topics);
    client.on('consumer:group:join', ({ generationId, assignments }) => {
      if (client === this.consumer) this.joinedGroup(generationId, assignments ?? []);
    });
    client.on('consumer:heartbeat:end', () => {
      if (client === this.consumer) this.lastHeartbeatAt = Date.now();
    });
    client.on('consumer:group:rebalance', () => this.logger.info('consumer group rebalancing'));
    // The client emits 'error' when it could not rejoin the group after a rebalance: its membership has ended.
    client.on('error', (error: Error) => {
      if (client !== this.consumer) return;
      this.logger.warn({ err: error }, 'consumer group membership lost; joining again');
      this.joined = false;
      void this.join();
    });
    return client;
  }

  private joinedGroup(generationId: number | undefined, assignments: { topic: string; partitions: number[] }[]): void {
    this.joined = true;
    this.generation++;
    this.lastHeartbeatAt = Date.now();
    this.assignment = assignments;
    this.assigned = assignments.flatMap(({ topic, partitions }) =>
      partitions.map((partition) => ({ topic, partition, key: keyOf(topic, partition) })),
    );
    this.positions.clear();
    this.seeked.clear();
    const assignment: Record<string, number[]> = {};
    for (const { topic, partitions } of assignments) assignment[topic] = [...partitions];
    this.logger.info({ member_assignment: assignment, generation_id: generationId }, 'consumer group joined');
    try {
      this.opts.onAssignment?.(assignment);
    } catch (error) {
      this.logger.error({ err: error }, 'the processor failed to take the assignment');
    }
    void this.loadPositions(this.generation);
    this.wakeUp();
  }

  /**
   * Moves the member to a new client, which looks the group coordinator up again; the old one leaves (or tries to)
   * in the background. Batches of the old client's generation are stale from here on.
   */
  private replaceClient(reason: string): void {
    this.logger.warn({ reason }, 'moving the consumer to a new client (the group coordinator may have moved)');
    this.joined = false;
    this.generation++;
    const old = this.consumer;
    this.consumer = this.createClient();
    this.lastHeartbeatAt = Date.now();
    void closeClient(old, this.logger);
  }

  /** The member's heartbeats have all failed for a session timeout: its coordinator is gone or unreachable. */
  private checkHeartbeats(): void {
    if (this.stopped || !this.joined || this.rejoining !== null || this.joining !== null) return;
    if (Date.now() - this.lastHeartbeatAt <= this.groupOptions.sessionTimeout) return;
    this.replaceClient('no heartbeat reached the group coordinator for a session timeout');
    void this.join();
  }

  /** True while the fetch loop is alive; a consumer that has not fetched for long is reported by health checks. */
  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Why the consumer is not consuming, or null when it is: stopped, or not in its group yet (its role is starting,
   * or waiting to join: after a crash, Kafka lets a new member in once the crashed member's session has expired).
   */
  get notConsuming(): string | null {
    if (this.stopped) return 'the consumer is stopped';
    if (!this.joined) return "joining the consumer group (after a crash: once the old member's session expires)";
    return null;
  }

  get millisSinceLastBatch(): number {
    return Date.now() - this.lastBatchAt;
  }

  /** Joins the group (retrying until it succeeds or the consumer is stopped) and starts fetching. */
  async start(): Promise<void> {
    this.watchdog = setInterval(() => this.checkHeartbeats(), this.groupOptions.heartbeatInterval);
    this.watchdog.unref();
    await this.join();
    if (this.stopped) return;
    this.running = true;
    this.fetching = this.fetchLoop().finally(() => (this.running = false));
  }

  /**
   * Leaves the group and joins it again (a new generation, so a new assignment for every member). For a member
   * whose view of what it owns disagrees with its processor's store while the group itself looks stable.
   */
  rejoin(): Promise<void> {
    this.rejoining ??= (async () => {
      try {
        if (this.stopped) return;
        this.logger.warn('leaving and rejoining the consumer group');
        this.joined = false;
        try {
          await this.consumer.leaveGroup(false);
        } catch (error) {
          this.logger.debug({ err: error }, 'leaving the group failed');
        }
        await this.join();
      } finally {
        this.rejoining = null;
      }
    })();
    return this.rejoining;
  }

  /** Joins the group; one attempt loop at a time, whoever asks (start, a lost membership, the watchdog, rejoin). */
  private join(): Promise<void> {
    this.joining ??= this.joinUntilJoined().finally(() => (this.joining = null));
    return this.joining;
  }

  private async joinUntilJoined(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.consumer.joinGroup({ ...this.groupOptions });
        return;
      } catch (error) {
        this.logger.warn({ err: error, attempt }, 'joining the consumer group failed; retrying with a new client');
        if (this.stopped) return;
        this.replaceClient('joining the group failed');
        await this.sleep(backoffMs(attempt, RETRY_INITIAL_MS, RETRY_MAX_MS));
      }
    }
  }

  /** Whether batches fetched in `generation` may still be delivered. */
  private current(generation: number): boolean {
    return generation === this.generation && this.joined && !this.stopped && this.consumer.isActive();
  }

  /**
   * After a join: each assigned partition from the group's committed offset, or the first offset when none is
   * committed; a partition the processor seeked meanwhile keeps its seek.
   */
  private async loadPositions(generation: number): Promise<void> {
    for (let attempt = 0; this.current(generation); attempt++) {
      try {
        const committed =
          this.assignment.length === 0
            ? new Map<string, bigint[]>()
            : await this.consumer.listCommittedOffsets({ topics: this.assignment });
        const missing = this.assigned.filter(({ topic, partition }) => (committed.get(topic)?.[partition] ?? -1n) < 0n);
        const earliest = await this.firstOffsets(missing);
        if (!this.current(generation)) return;
        for (const { topic, partition, key } of this.assigned) {
          if (this.positions.has(key)) continue; // seeked meanwhile
          const offset = committed.get(topic)?.[partition] ?? -1n;
          this.positions.set(key, offset >= 0n ? offset : (earliest.get(topic)?.[partition] ?? 0n));
        }
        this.wakeUp();
        return;
      } catch (error) {
        this.logger.warn({ err: error, attempt }, 'reading the committed offsets failed; retrying');
        await this.sleep(backoffMs(attempt, RETRY_INITIAL_MS, RETRY_MAX_MS));
      }
    }
  }

  /**
   * One fetch in flight per partition leader, each answered as soon as its leader has data (a quiet leader's fetch
   * waiting out maxWaitMs does not hold back another's); the answers are delivered in turn, so onBatch never runs
   * for two batches at once.
   */
  private async fetchLoop(): Promise<void> {
    const inFlight = new Map<number, Promise<void>>();
    /** Partitions of the fetches in flight: a partition whose leader moved is not fetched twice. */
    const busy = new Set<string>();
    let failures = 0;
    let retryAt = 0;
    const failed = (error: unknown) => {
      this.consumer.clearMetadata(); // a leader moved or died
      this.logger.warn({ err: error, attempt: failures }, 'fetching from Kafka failed; retrying');
      retryAt = Date.now() + backoffMs(failures++, RETRY_INITIAL_MS, RETRY_MAX_MS);
    };
    while (!this.stopped) {
      const generation = this.generation;
      if (!this.paused && this.current(generation) && Date.now() >= retryAt) {
        try {
          const metadata = await this.consumer.metadata({ topics: this.opts.topics });
          if (this.partitionsAdded(metadata.topics)) void this.rejoin();
          else {
            for (const [node, topics] of this.byLeader(metadata.topics, busy)) {
              if (inFlight.has(node)) continue;
              const keys = [...topics.values()].flat().map((r) => r.key);
              for (const key of keys) busy.add(key);
              const task = this.fetchFrom(node, topics, metadata.topics)
                .then((answer) => this.deliverInTurn(generation, answer))
                .then(() => {
                  failures = 0;
                }, failed)
                .finally(() => {
                  inFlight.delete(node);
                  for (const key of keys) busy.delete(key);
                  this.wakeUp();
                });
              inFlight.set(node, task);
            }
          }
        } catch (error) {
          failed(error);
        }
      }
      await this.sleep(IDLE_MS); // woken early by an answer, a join, a seek
    }
    await Promise.allSettled(inFlight.values());
  }

  /** The assigned partitions with a known position and no fetch in flight, by leader and topic. */
  private byLeader(
    metadata: Map<string, { partitions: { leader: number }[] }>,
    busy: Set<string>,
  ): Map<number, Map<string, Requested[]>> {
    const out = new Map<number, Map<string, Requested[]>>();
    for (const assigned of this.assigned) {
      const offset = this.positions.get(assigned.key);
      if (offset === undefined || busy.has(assigned.key)) continue;
      const leader = metadata.get(assigned.topic)?.partitions[assigned.partition]?.leader ?? -1;
      if (leader < 0) {
        this.consumer.clearMetadata(); // no leader elected yet: read the metadata again next round
        continue;
      }
      const topics = out.get(leader) ?? new Map<string, Requested[]>();
      out.set(leader, topics);
      const requests = topics.get(assigned.topic) ?? [];
      topics.set(assigned.topic, requests);
      requests.push({ ...assigned, offset });
    }
    return out;
  }

  /** Delivers a leader's answer after the answers before it; rejects with the error that failed the fetch. */
  private deliverInTurn(generation: number, answer: FetchedBatch[] | Error): Promise<void> {
    if (answer instanceof Error) return Promise.reject(answer);
    const turn = this.deliveries.then(async () => {
      for (const batch of answer) {
        if (!this.current(generation) || this.paused) return;
        await this.deliver(generation, batch);
      }
    });
    this.deliveries = turn.catch(() => {});
    return turn;
  }

  private partitionsAdded(topics: Map<string, { partitionsCount: number }>): boolean {
    let added = false;
    for (const topic of this.opts.topics) {
      const count = topics.get(topic)?.partitionsCount ?? 0;
      const known = this.partitionCounts.get(topic);
      if (known !== undefined && count > known) added = true;
      this.partitionCounts.set(topic, Math.max(count, known ?? 0));
    }
    if (added) this.logger.info('partitions were added to a consumed topic; rejoining for a new assignment');
    return added;
  }

  /** A leader's answer as batches to deliver, or the error that failed the whole request. */
  private async fetchFrom(
    node: number,
    topics: Map<string, Requested[]>,
    metadata: Map<string, { id: string }>,
  ): Promise<FetchedBatch[] | Error> {
    const requests = [...topics];
    let response: FetchResponse;
    try {
      response = await this.consumer.fetch({
        node,
        topics: requests.map(([topic, partitions]) => ({
          topicId: metadata.get(topic)!.id,
          partitions: partitions.map(({ partition, offset }) => ({
            partition,
            fetchOffset: offset,
            currentLeaderEpoch: -1,
            lastFetchedEpoch: -1,
            partitionMaxBytes: this.opts.maxBytesPerPartition,
          })),
        })),
      });
    } catch (error) {
      // A partition's error fails the request; the other partitions' answers come with the error.
      const partial = (error as { response?: FetchResponse }).response;
      if (partial?.responses === undefined) return error as Error;
      response = partial;
    }
    const out: FetchedBatch[] = [];
    response.responses.forEach((answer, i) => {
      const asked = new Map(requests[i][1].map((r) => [r.partition, r]));
      for (const partition of answer.partitions) {
        const request = asked.get(partition.partitionIndex);
        if (request === undefined) continue;
        if (partition.errorCode !== 0) {
          this.partitionFailed(request, partition.errorCode);
          continue;
        }
        out.push({ request, highWatermark: partition.highWatermark, batches: partition.records ?? [] });
      }
    });
    return out;
  }

  private partitionFailed(request: Requested, errorCode: number): void {
    if (errorCode === OFFSET_OUT_OF_RANGE) {
      // Retention removed what was asked for, or the offset is beyond the log (a topic made again): from the first.
      this.logger.warn({ topic: request.topic, partition: request.partition }, 'fetch offset out of range');
      void this.restartFromFirst(request);
      return;
    }
    this.logger.debug({ topic: request.topic, partition: request.partition, error_code: errorCode }, 'fetch failed');
    this.consumer.clearMetadata(); // a leader moved or is being elected
  }

  private async restartFromFirst(request: Requested): Promise<void> {
    const { topic, partition, key, offset } = request;
    try {
      const to = (await this.firstOffsets([request])).get(topic)?.[partition];
      if (to !== undefined && this.positions.get(key) === offset) this.positions.set(key, to);
    } catch (error) {
      this.logger.warn({ err: error, topic, partition }, 'reading the first offset failed; the next fetch retries');
    }
  }

  /** The first offset Kafka still holds of each of `partitions`, by topic (indexed by partition). */
  private async firstOffsets(partitions: Assigned[]): Promise<Map<string, bigint[]>> {
    if (partitions.length === 0) return new Map();
    const byTopic: Record<string, number[]> = {};
    for (const { topic, partition } of partitions) (byTopic[topic] ??= []).push(partition);
    return this.consumer.listOffsets({ topics: Object.keys(byTopic), partitions: byTopic, timestamp: EARLIEST });
  }

  private async deliver(generation: number, fetched: FetchedBatch): Promise<void> {
    const { request, batches } = fetched;
    const { topic, partition, key, offset: from } = request;
    if (this.positions.get(key) !== from) return; // seeked since the fetch was sent
    const records: ConsumedRecord[] = [];
    let next = from;
    // Offsets and timestamps as numbers (exact below 2^53) on the per-record path: BigInt arithmetic per record
    // costs more than the rest of the conversion.
    const skipBelow = Number(from);
    for (const batch of batches) {
      next = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
      if (batch.attributes & IS_CONTROL) continue;
      const firstOffset = Number(batch.firstOffset);
      const firstTimestamp = Number(batch.firstTimestamp);
      for (const record of batch.records) {
        const offset = firstOffset + record.offsetDelta;
        if (offset < skipBelow) continue; // a batch may start before the offset asked for
        records.push({
          offset: String(offset),
          key: record.key,
          value: record.value,
          headers: headersOf(record.headers),
          timestamp: String(firstTimestamp + Number(record.timestampDelta)),
        });
      }
    }
    this.lastBatchAt = Date.now();
    if (records.length === 0) {
      if (next > from) this.positions.set(key, next);
      return;
    }
    this.seeked.delete(key);
    this.inBatch++;
    try {
      await this.opts.onBatch(
        { topic, partition, highWatermark: fetched.highWatermark.toString(), records },
        {
          heartbeat: async () => {},
          isRunning: () => !this.stopped && !this.paused,
          isStale: () => !this.current(generation),
          seek: (offset) => this.seek(topic, partition, offset),
        },
      );
      if (this.current(generation) && !this.seeked.has(key) && this.positions.get(key) === from) {
        this.positions.set(key, next);
      }
    } finally {
      this.inBatch--;
    }
  }

  /** Records `next` as the group's committed offset in Kafka (monitoring only; failures are ignored). */
  async commit(topic: string, partition: number, next: string): Promise<void> {
    try {
      await this.consumer.commit({ offsets: [{ topic, partition, offset: BigInt(next), leaderEpoch: -1 }] });
    } catch (error) {
      this.logger.debug({ err: error, topic, partition }, 'kafka offset commit skipped');
    }
  }

  /** Re-reads the partition from `offset` (if it is assigned to this member in the current generation). */
  seek(topic: string, partition: number, offset: string): void {
    const key = keyOf(topic, partition);
    if (!this.assigned.some((a) => a.key === key)) return;
    this.positions.set(key, BigInt(offset));
    this.seeked.add(key);
    this.wakeUp();
  }

  /** Stops fetching new batches and waits for the batch being handed to onBatch, if any. */
  async pause(): Promise<void> {
    this.paused = true;
    while (this.inBatch > 0) await new Promise((r) => setTimeout(r, 10));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.wakeUp();
    await this.rejoining?.catch(() => {});
    await this.fetching;
    await closeClient(this.consumer, this.logger);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  private wakeUp(): void {
    for (const wake of [...this.sleepers]) wake();
  }
}

interface FetchedBatch {
  request: Requested;
  highWatermark: bigint;
  batches: RecordsBatch[];
}

function headersOf(headers: [Buffer | null, Buffer | null][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (name === null || value === null) continue;
    const lower = name.toString('utf8').toLowerCase();
    if (!(lower in out)) out[lower] = value.toString('utf8');
  }
  return out;
}

/**
 * The library's consumer, refusing a request to a broker the cluster metadata no longer names (a dead group
 * coordinator the client still keeps) with an error, where the library would throw from inside its callback.
 */
class CoordinatorSafeConsumer extends Consumer {
  override [kGetConnection](...args: Parameters<Consumer[typeof kGetConnection]>): void {
    const [broker, callback] = args;
    if (broker === undefined) {
      callback(new UserError('the broker is no longer in the cluster metadata'), undefined as never);
      return;
    }
    super[kGetConnection](broker, callback);
  }
}

/** Leaves the group and closes the client; a failure (its coordinator gone) or a hang is logged, not thrown. */
async function closeClient(client: Consumer, logger: Logger): Promise<void> {
  try {
    const closed = (async () => {
      await client.close(true);
      return 'closed' as const;
    })();
    const outcome = await withTimeout(closed, CLOSE_TIMEOUT_MS, () => 'timeout' as const);
    if (outcome === 'timeout') logger.warn('closing the consumer client timed out; the group expires the member');
  } catch (error) {
    logger.warn({ err: error }, 'leaving the consumer group failed; the group expires the member');
  }
}
