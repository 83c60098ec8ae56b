/**
 * Which partitions this alerter member holds and owns, and the ownership protocol around its consumer group
 * (docs/architecture.md, "Ownership fence"): at every join of the group the member claims all its partitions again
 * (alert_partition_owners), retried with backoff until a claim succeeds; a periodic self-check or a fenced save
 * that finds another member's generation means ownership was lost, repaired by leaving and rejoining the group.
 * What ownership means for evaluation (dropping windows and instances, discarding unsaved changes, reloading a
 * partition taken over) is the alerter's: it is reached through OwnershipHost.
 */
import type { BatchConsumer } from '../../shared/kafka/consumer.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Origin } from '../../shared/promql/windows.ts';
import { backoffMs } from '../../shared/wait.ts';
import { ownerKey, type StateStore } from './engine/state-store.ts';
import type { AlerterMetrics } from './metrics.ts';
import { Serial } from './serial.ts';

export interface PartitionState {
  origin: Origin;
  /** Owner generation claimed in alert_partition_owners: saves for this partition are fenced by it. */
  generation: string;
  /**
   * False from a join of the group until its claim succeeds, and after the fence or the self-check found another
   * member's generation: the partition is then neither evaluated nor saved.
   */
  owned: boolean;
  /** Next offset to process; records below it were processed (or are older than any window). */
  next: bigint;
  /** High watermark at assignment: records below it only rebuild windows. */
  replayUntil: bigint;
  ready: boolean;
  /** Until the first batch: if the fetch started past `next`, seek back. */
  awaitingFirst: boolean;
  committedAt: number;
  committed: bigint;
}

/** An owner partition, or null: the aggregations' pseudo-partition. */
export type OwnerSelector = (origin: Origin | null) => boolean;

export interface OwnershipHost {
  /** After a join: drop the windows and instances of what this member no longer holds. */
  keepOnly(kept: OwnerSelector): void;
  /** Drops queued, unsaved changes of the owner partitions `stale` selects (another member claimed them). */
  discardQueued(stale: OwnerSelector): void;
  /** Partitions gained, or claimed by another member since this one held them: reload their states, re-read. */
  takeOver(stale: Origin[], aggregations: boolean, claims: Map<string, { generation: string }>): Promise<void>;
  /** Runs a job in the alerter's order (claims retried later run there). */
  serially(job: () => Promise<void>): Promise<void>;
}

export interface OwnershipOptions {
  states: StateStore;
  /** Partition 0 of this topic makes its holder the member that evaluates aggregations (the leader). */
  metricsTopic: string;
  logger: Logger;
  metrics: AlerterMetrics;
  clock: () => number;
}

/** A failed claim is retried after about this long, doubling up to the maximum. */
const CLAIM_RETRY_BASE_MS = 250;
const CLAIM_RETRY_MAX_MS = 5000;
/**
 * Ownership lost without a join of the group: a stale member learns of its expiry at its next heartbeat (a few
 * seconds) and rejoins by itself; a member whose membership is still valid leaves and rejoins after this long.
 */
const REJOIN_GRACE_MS = 5000;
/** Distinct fencing warnings remembered (so each is logged once) before the memory is cleared. */
const FENCED_WARNINGS_MAX = 1000;
/** How often the member compares the generations it holds with alert_partition_owners. */
export const OWNERSHIP_CHECK_MS = 10_000;
/** Label of the aggregations' pseudo-partition in metrics and logs. */
export const AGGREGATIONS_LABEL = 'aggregations';

export class Ownership {
  /** The partitions this member holds (owned or not), by ownerKey. */
  readonly partitions = new Map<string, PartitionState>();
  /** Partitions per topic, as last seen at an assignment. */
  readonly partitionTotals = new Map<string, number>();
  /** Saves, claims and the self-check never overlap, so a claim's generations apply to every later save. */
  readonly storeLock = new Serial();
  consumer: BatchConsumer | null = null;
  leader = false;
  /** The aggregations' generation this member claimed last (kept while not owned: a re-claim compares with it). */
  aggregationsGeneration: string | null = null;
  aggregationsOwned = false;
  /** Whether this member owns every partition (then aggregations are computed from its own series alone). */
  ownsAll = true;
  /** Joins of the group seen: a claim retry or a rejoin scheduled for an older one is dropped. */
  private epoch = 0;
  private assigned: Origin[] = [];
  private claimAttempt = 0;
  private claimTimer: NodeJS.Timeout | null = null;
  private rejoinTimer: NodeJS.Timeout | null = null;
  private lastOwnershipCheck = 0;
  /** (owner partition, generation) pairs already warned about: one warning each. */
  private readonly fencedWarned = new Set<string>();
  private stopping = false;

  constructor(
    private readonly opts: OwnershipOptions,
    private readonly host: OwnershipHost,
  ) {}

  /** Stops retrying claims and rejoining. */
  stop(): void {
    this.stopping = true;
    if (this.claimTimer) clearTimeout(this.claimTimer);
    if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
  }

  /** Assigned partitions (and the aggregations, when this member evaluates them) that it does not own now. */
  get unowned(): string[] {
    const missing = this.assigned.filter((o) => this.partitions.get(ownerKey(o))?.owned !== true).map(ownerKey);
    if (this.leader && !this.aggregationsOwned) missing.push(AGGREGATIONS_LABEL);
    return missing;
  }

  /** The generation this member holds and may save under, for an owner partition (null: the aggregations). */
  generationOf(origin: Origin | null): string | undefined {
    if (origin === null) return this.aggregationsOwned ? (this.aggregationsGeneration ?? undefined) : undefined;
    const state = this.partitions.get(ownerKey(origin));
    return state?.owned ? state.generation : undefined;
  }

  /** True when every partition this instance holds is owned and has rebuilt its windows. */
  get caughtUp(): boolean {
    return [...this.partitions.values()].every((p) => p.ready && p.owned);
  }

  isReady(origin: Origin | null): boolean {
    if (origin === null) return this.leader && this.aggregationsOwned && this.caughtUp;
    const state = this.partitions.get(ownerKey(origin));
    return state?.ready === true && state.owned;
  }

  /** Runs the self-check when it is due (from the alerter's tick); failures are logged and tried again later. */
  checkWhenDue(now: number): void {
    if (now - this.lastOwnershipCheck < OWNERSHIP_CHECK_MS) return;
    this.lastOwnershipCheck = now;
    void this.checkOwnership().catch((error) => {
      this.opts.logger.warn({ err: error }, 'ownership self-check failed; trying again later');
    });
  }

  /**
   * The self-check: the generations this member holds against alert_partition_owners. A mismatch (another member
   * claimed, or the row was changed by hand) is lost ownership, repaired by a rejoin and the claim that follows it.
   */
  async checkOwnership(): Promise<void> {
    await this.storeLock.run(async () => {
      const owned = [...this.partitions.values()].filter((p) => p.owned);
      const stored = await this.opts.states.owners(
        owned.map((p) => p.origin),
        this.aggregationsOwned,
      );
      for (const state of owned) {
        const found = stored.get(ownerKey(state.origin));
        if (state.owned && found !== state.generation) this.loseOwnership(state.origin, found, 'self-check');
      }
      if (this.aggregationsOwned && stored.get(ownerKey(null)) !== this.aggregationsGeneration) {
        this.loseOwnership(null, stored.get(ownerKey(null)), 'self-check');
      }
    });
    if (this.unowned.length > 0 && this.claimTimer === null) this.scheduleRejoin();
  }

  /** A join of the group (a new generation): keep what is still assigned, then claim all of it again. */
  async reassign(assignment: Record<string, number[]>): Promise<void> {
    this.epoch++;
    if (this.claimTimer) clearTimeout(this.claimTimer);
    this.claimTimer = null;
    this.claimAttempt = 0;
    const owned = new Map<string, Origin>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) owned.set(ownerKey({ topic, partition }), { topic, partition });
    }
    for (const k of this.partitions.keys()) if (!owned.has(k)) this.partitions.delete(k);
    this.leader = owned.has(ownerKey({ topic: this.opts.metricsTopic, partition: 0 }));
    if (!this.leader) this.aggregationsGeneration = null;
    this.host.keepOnly((origin) => (origin === null ? this.leader : owned.has(ownerKey(origin))));
    this.assigned = [...owned.values()];
    // A new generation of the group: any partition held before may have been claimed by another member meanwhile
    // (this one stalled past its session), so all of them are claimed again before they are evaluated.
    for (const state of this.partitions.values()) state.owned = false;
    this.aggregationsOwned = false;
    this.reportAggregations(owned);
    await this.claimAssigned(this.epoch);
  }

  /**
   * Claims every assigned partition (and the aggregations when leader). A partition whose replaced generation is
   * the one this member held continues as it was (seeking back to the next record it has not processed); any
   * other is loaded from PostgreSQL and re-read like a gained one. On failure nothing assigned is owned, and the
   * claim is retried with backoff while the assignment stands.
   */
  private async claimAssigned(epoch: number): Promise<void> {
    if (epoch !== this.epoch || this.stopping) return;
    this.claimTimer = null;
    const assigned = this.assigned;
    const aggregations = this.leader;
    try {
      const { claims, stale, staleAggregations } = await this.storeLock.run(async () => {
        const claims = await this.opts.states.claim(assigned, aggregations);
        const stale: Origin[] = [];
        for (const origin of assigned) {
          const state = this.partitions.get(ownerKey(origin));
          const claim = claims.get(ownerKey(origin))!;
          if (state && claim.previous === state.generation) {
            state.generation = claim.generation;
            state.owned = true;
            state.awaitingFirst = true;
            this.consumer?.seek(origin.topic, origin.partition, state.next.toString());
          } else {
            stale.push(origin);
          }
        }
        const aggregationClaim = claims.get(ownerKey(null));
        const staleAggregations =
          aggregationClaim !== undefined &&
          (this.aggregationsGeneration === null || aggregationClaim.previous !== this.aggregationsGeneration);
        if (aggregationClaim && !staleAggregations) {
          this.aggregationsGeneration = aggregationClaim.generation;
          this.aggregationsOwned = true;
        }
        // What this member computed for them before another member's claim is stale: never saved.
        const staleKeys = new Set(stale.map(ownerKey));
        this.host.discardQueued((origin) => (origin === null ? staleAggregations : staleKeys.has(ownerKey(origin))));
        return { claims, stale, staleAggregations };
      });
      if (stale.length > 0 || staleAggregations) await this.host.takeOver(stale, staleAggregations, claims);
    } catch (error) {
      if (epoch !== this.epoch || this.stopping) return;
      const delay = Math.round(backoffMs(this.claimAttempt++, CLAIM_RETRY_BASE_MS, CLAIM_RETRY_MAX_MS));
      this.opts.logger.warn(
        { err: error, unowned: this.unowned, retry_in_ms: delay },
        'could not claim the assigned alerter partitions; they are not evaluated until a claim succeeds',
      );
      this.claimTimer = setTimeout(() => {
        this.host
          .serially(() => this.claimAssigned(epoch))
          .catch((e) => this.opts.logger.error({ err: e }, 'alerter claim failed'));
      }, delay);
      this.claimTimer.unref();
      return;
    }
    this.claimAttempt = 0;
    this.lastOwnershipCheck = this.opts.clock(); // just claimed: the next self-check is due a full period later
    this.reportAggregations(new Map(assigned.map((o) => [ownerKey(o), o])));
    this.opts.logger.info({ claimed: assigned.map(ownerKey), leader: this.leader }, 'alerter claimed its partitions');
  }

  /** Counts (and warns once per partition and generation about) changes fenced out by another member's claim. */
  countFenced(origin: Origin | null, dropped: number, held: string | undefined): void {
    const partition = origin === null ? AGGREGATIONS_LABEL : ownerKey(origin);
    this.opts.metrics.fencedChanges.inc({ partition }, dropped);
    const warned = `${partition}@${held ?? '-'}`;
    if (this.fencedWarned.has(warned)) return;
    if (this.fencedWarned.size >= FENCED_WARNINGS_MAX) this.fencedWarned.clear();
    this.fencedWarned.add(warned);
    this.opts.logger.warn(
      { partition, generation: held ?? null, dropped_changes: dropped },
      'alert state changes fenced out: another alerter member claimed this partition after this one; ' +
        'they were not saved',
    );
  }

  /**
   * Another member's generation is stored for a partition this member evaluates: stop evaluating it, and rejoin
   * the group unless a join comes first (whose claim settles who owns what).
   */
  loseOwnership(origin: Origin | null, stored: string | undefined, how: 'fence' | 'self-check'): void {
    const state = origin === null ? null : this.partitions.get(ownerKey(origin));
    if (origin === null ? !this.aggregationsOwned : !state?.owned) return;
    if (state) state.owned = false;
    else this.aggregationsOwned = false;
    this.opts.logger.warn(
      {
        partition: origin === null ? AGGREGATIONS_LABEL : ownerKey(origin),
        held_generation: state ? state.generation : this.aggregationsGeneration,
        stored_generation: stored ?? null,
        found_by: how,
      },
      'alerter lost ownership of a partition: it is no longer evaluated here; ' +
        'rejoining the group to claim what is assigned',
    );
    this.scheduleRejoin();
  }

  private scheduleRejoin(): void {
    if (this.rejoinTimer || this.stopping) return;
    const epoch = this.epoch;
    this.rejoinTimer = setTimeout(() => {
      this.rejoinTimer = null;
      // A join since then claimed anew; else the membership looks valid to Kafka while the claim says otherwise.
      if (this.stopping || this.epoch !== epoch || this.unowned.length === 0) return;
      this.consumer?.rejoin().catch((error) => {
        this.opts.logger.warn({ err: error }, 'could not rejoin the alerter group');
      });
    }, REJOIN_GRACE_MS);
    this.rejoinTimer.unref();
  }

  private reportAggregations(owned: Map<string, Origin>): void {
    const held = (topic: string) => [...owned.values()].filter((o) => o.topic === topic).length;
    this.ownsAll = [...this.partitionTotals].every(([topic, total]) => held(topic) === total);
    this.opts.metrics.aggregationsComplete.set(this.leader && this.ownsAll ? 1 : 0);
  }
}
