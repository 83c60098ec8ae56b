/**
 * One alerter instance: a member of the alerter consumer group over the metrics and events topics. It keeps the
 * windows and the alert states of the partitions it owns (state per (rule, series) lives with the series'
 * partition, so more instances split the work), evaluates the rules on arriving data and on a tick, stores every
 * state change and transition in PostgreSQL before it commits, and hands transitions to the dispatcher.
 *
 * Taking over a partition (start, restart, rebalance): its pending and firing instances are read back from
 * PostgreSQL (timers keep their activeAt), and its windows are rebuilt by re-reading the partition from the first
 * offset within the longest rule range plus the lookback, up to the high watermark seen at assignment, without
 * evaluating. Only then is the partition evaluated, once, as a whole: an alert that still holds stays firing
 * without a new transition (no duplicate notification), one that stopped resolves, a pending one fires when its
 * `for` has elapsed since its original activeAt.
 *
 * Ownership (kept by ownership.ts; the protocol in docs/architecture.md, "Ownership fence"): at EVERY join of the group
 * — also when the assignment did not change, e.g. after a stall past the session timeout — the member claims all its
 * partitions again (alert_partition_owners). A partition whose previous generation was this member's own keeps its
 * windows and instances; one that another member claimed in between is reloaded and re-read like a gained one. Until a
 * claim succeeds (it is retried with backoff) a partition is held but not owned: not evaluated, not saved, and /readyz
 * says so. A save fenced out by another member's claim, or a periodic self-check that finds a stored generation other
 * than the member's, means ownership was lost: the changes are counted and logged, the partition stops being evaluated,
 * and unless the group is rejoined meanwhile the member leaves and rejoins it.
 */
import type { Kafka } from '../../shared/kafka/client.ts';
import type { BatchConsumer, BatchControl, PartitionBatch } from '../../shared/kafka/consumer.ts';
import { offsetsSince } from '../../shared/kafka/offsets.ts';
import type { Logger } from '../../shared/logger.ts';
import type { DecodeContext } from './decode.ts';
import { decodeEvents, decodeMetrics } from './decode.ts';
import { AlertEngine, isEmpty, ruleInfo, type Changes } from './engine/engine.ts';
import type { StateStore } from './engine/state-store.ts';
import { compileQuery, type ParseOptions } from '../../shared/promql/compile.ts';
import type { Origin } from '../../shared/promql/windows.ts';
import { ownerKey } from './engine/state-store.ts';
import { withTimeout } from '../../shared/wait.ts';
import type { AlerterMetrics } from './metrics.ts';
import type { Dispatcher } from './notify/dispatcher.ts';
import type { RuleStore } from './rules/rule-store.ts';
import type { EngineRule } from './rules/rule.ts';
import { Ownership, type OwnerSelector, type PartitionState } from './ownership.ts';
import { Serial } from './serial.ts';

import { secondsSince } from '../../shared/units.ts';

/** Partial aggregates count when written within this many ticks (plus a grace) of now. */
const PARTIALS_FRESH_TICKS = 3;
const PARTIALS_FRESH_GRACE_MS = 2000;
const FLUSH_WAIT_MS = 1000;
/** Offsets of a partition are committed at most this often. */
const COMMIT_INTERVAL_MS = 1000;
const RETRY_AFTER_FAILURE_MS = 1000;

export interface AlerterOptions {
  kafka: Kafka;
  topics: { metrics: string; events: string };
  rules: RuleStore;
  states: StateStore;
  dispatcher: Dispatcher;
  decode: DecodeContext;
  parse: ParseOptions;
  lookbackMs: number;
  resendMs: number;
  tickMs: number;
  /** ALERTER_MAX_INSTANCES_PER_RULE. */
  maxInstancesPerRule: number;
  logger: Logger;
  metrics: AlerterMetrics;
  clock: () => number;
}

/** Evaluations waiting to be saved; beyond this many the alerter stops taking data until the writer catches up. */
const MAX_UNSAVED = 10_000;
export class Alerter {
  readonly engine: AlertEngine;
  private readonly serial = new Serial();
  readonly ownership: Ownership;
  private ruleRevision = '';
  private readonly unsaved: Changes[] = [];
  private flushing: Promise<void> | null = null;
  private stopping = false;
  private lastResend = 0;

  constructor(private readonly opts: AlerterOptions) {
    this.ownership = new Ownership(
      {
        states: opts.states,
        metricsTopic: opts.topics.metrics,
        logger: opts.logger,
        metrics: opts.metrics,
        clock: opts.clock,
      },
      {
        keepOnly: (kept) => this.engine.dropWhere((origin) => !kept(origin)),
        discardQueued: (stale) => this.discardQueued(stale),
        takeOver: (stale, aggregations, claims) => this.takeOver(stale, aggregations, claims),
        serially: (job) => this.serial.run(job),
      },
    );
    this.engine = new AlertEngine({
      lookbackMs: opts.lookbackMs,
      isReady: (origin) => this.ownership.isReady(origin),
      maxInstancesPerRule: opts.maxInstancesPerRule,
      onRefused: (count) => opts.metrics.instancesRefused.inc(count),
    });
  }

  /** Loads the rules; call before the consumer joins the group. */
  init(): Promise<void> {
    return this.serial.run(() => this.refreshRules());
  }

  onAssignment(assignment: Record<string, number[]>): void {
    this.serial
      .run(() => this.ownership.reassign(assignment))
      .catch((error) => this.opts.logger.error({ err: error }, 'alerter reassignment failed'));
  }

  onBatch(batch: PartitionBatch, control: BatchControl): Promise<void> {
    return this.serial.run(() => this.process(batch, control));
  }

  tick(): Promise<void> {
    return this.serial.run(async () => {
      const started = process.hrtime.bigint();
      await this.refreshRules();
      const now = this.opts.clock();
      await this.exchangePartials(now);
      const changes = this.engine.evaluateAll(now);
      this.engine.prune(now);
      this.persist(changes);
      for (const state of this.ownership.partitions.values()) if (state.committed < state.next) this.commit(state, now);
      if (now - this.lastResend >= this.opts.resendMs) {
        this.lastResend = now;
        const firing = [...this.engine.firing()].map(([rule, i]) => ({
          rule: ruleInfo(rule),
          labels: i.labels,
          value: i.value,
          activeAt: i.activeAt,
          resolvedAt: null,
        }));
        void this.opts.dispatcher.resend(firing, now);
        void this.opts.dispatcher
          .sweep()
          .catch((error) => this.opts.logger.warn({ err: error }, 'outbox sweep failed'));
      }
      this.opts.metrics.evaluationSeconds.observe({ kind: 'tick' }, secondsSince(started));
      this.opts.metrics.series.set(this.engine.windows.seriesCount);
      let firing = 0;
      for (const _ of this.engine.firing()) firing++;
      this.opts.metrics.instances.set({ state: 'firing' }, firing);
      this.opts.metrics.instances.set({ state: 'pending' }, this.engine.instanceCount - firing);
      this.opts.metrics.unownedPartitions.set(this.ownership.unowned.length);
      this.ownership.checkWhenDue(now);
    });
  }

  /** A rule changed through the API of this process: reload now rather than at the next tick. */
  rulesChanged(): void {
    this.ruleRevision = '';
    this.serial
      .run(() => this.refreshRules())
      .catch((error) => this.opts.logger.warn({ err: error }, 'rule reload failed'));
  }

  /** Waits for the jobs under way and the saves they queued. */
  async idle(): Promise<void> {
    await this.serial.idle();
    while (this.flushing) await this.flushing;
  }

  /** Stops retrying failed saves and claims (the next owner recomputes what was not saved). */
  stop(): void {
    this.stopping = true;
    this.ownership.stop();
  }

  /** Assigned partitions (and the aggregations, when this member evaluates them) that it does not own now. */
  get unowned(): string[] {
    return this.ownership.unowned;
  }

  /** The generation this member holds and may save under, for an owner partition (null: the aggregations). */
  generationOf(origin: Origin | null): string | undefined {
    return this.ownership.generationOf(origin);
  }

  /** The ownership self-check (Ownership.checkOwnership). */
  checkOwnership(): Promise<void> {
    return this.ownership.checkOwnership();
  }

  /** The consumer whose group this member is in: ownership seeks and rejoins through it. */
  set consumer(consumer: BatchConsumer | null) {
    this.ownership.consumer = consumer;
  }

  get consumer(): BatchConsumer | null {
    return this.ownership.consumer;
  }

  /** Partitions (of both topics) this instance owns. */
  get partitionCount(): number {
    return this.ownership.partitions.size;
  }

  /** True when every partition this instance holds is owned and has rebuilt its windows. */
  get caughtUp(): boolean {
    return this.ownership.caughtUp;
  }

  private async refreshRules(): Promise<void> {
    const revision = await this.opts.rules.revision();
    if (revision === this.ruleRevision) return;
    const compiled: EngineRule[] = [];
    for (const definition of await this.opts.rules.all()) {
      try {
        compiled.push({ ...definition, ...compileQuery(definition, this.opts.parse) });
      } catch (error) {
        this.opts.logger.warn(
          { err: error, rule_id: definition.id },
          'alert rule does not compile (ALERTER_MAX_RANGE_SECONDS lowered?); skipped',
        );
      }
    }
    const now = this.opts.clock();
    const before = { ...this.engine.windows.kept(), retentionMs: this.engine.retentionMs };
    const added = compiled.filter((r) => r.enabled && !this.engine.knows(r.id)).map((r) => r.id);
    this.persist(this.engine.setRules(compiled, now));
    this.ruleRevision = revision;
    await this.loadStoredInstances(added);
    await this.refill(before, now);
  }

  /**
   * A rule this member has just learnt of may already have instances stored for partitions it owns: another member
   * judged it there before this one took the partitions over (a takeover loads only the rules the member knows).
   * They are the state to go on from; without them the same alert would fire (and notify) twice.
   */
  private async loadStoredInstances(ruleIds: string[]): Promise<void> {
    if (ruleIds.length === 0 || this.ownership.partitions.size === 0) return;
    const owned = [...this.ownership.partitions.values()].filter((p) => p.owned).map((p) => p.origin);
    const wanted = new Set(ruleIds);
    const stored = await this.opts.states.load(owned, this.ownership.leader && this.ownership.aggregationsOwned);
    this.engine.loadInstances(stored.filter((i) => wanted.has(i.ruleId)));
  }

  /**
   * After a rule change, the windows of the partitions this instance owns may lack data the new rules read: a metric
   * name or event selector no rule kept before, or a longer range than any before. Prometheus would read its stored
   * history; here those partitions are re-read from Kafka over the new retention (exactly as after an assignment:
   * their windows dropped and rebuilt without evaluating, their alert instances kept, then judged once), so a new
   * `avg_over_time(x[10m])` judges ten minutes of samples at once rather than what arrives after its creation.
   */
  private async refill(
    before: { names: Set<string>; eventKeys: Set<string>; retentionMs: number },
    now: number,
  ): Promise<void> {
    if (this.ownership.partitions.size === 0) return; // the first load: assignment will read the whole retention anyway
    const after = this.engine.windows.kept();
    const grew = this.engine.retentionMs > before.retentionMs;
    const topics: string[] = [];
    if ([...after.names].some((n) => !before.names.has(n)) || (grew && after.names.size > 0))
      topics.push(this.opts.topics.metrics);
    if ([...after.eventKeys].some((k) => !before.eventKeys.has(k)) || (grew && after.eventKeys.size > 0))
      topics.push(this.opts.topics.events);
    for (const topic of topics) {
      const owned = [...this.ownership.partitions.values()].filter((s) => s.origin.topic === topic);
      if (owned.length === 0) continue;
      const ranges = await offsetsSince(this.opts.kafka, topic, now - this.engine.retentionMs);
      const refilled: number[] = [];
      for (const state of owned) {
        const from = ranges.get(state.origin.partition)?.from ?? state.next;
        if (from >= state.next) continue; // nothing older to read
        this.engine.windows.dropWhere((o) => o !== null && o.topic === topic && o.partition === state.origin.partition);
        state.replayUntil = state.next > state.replayUntil ? state.next : state.replayUntil;
        state.next = from;
        state.ready = false;
        state.awaitingFirst = true;
        this.ownership.consumer?.seek(topic, state.origin.partition, from.toString());
        refilled.push(state.origin.partition);
      }
      if (refilled.length > 0)
        this.opts.logger.info(
          { topic, partitions: refilled },
          'rules need older data: re-reading these partitions to fill their windows',
        );
    }
  }

  /** Partitions gained, or claimed by another member since this one held them: reload their states, re-read. */
  private async takeOver(
    stale: Origin[],
    aggregations: boolean,
    claims: Map<string, { generation: string }>,
  ): Promise<void> {
    const staleKeys = new Set(stale.map(ownerKey));
    for (const k of staleKeys) this.ownership.partitions.delete(k);
    this.engine.dropWhere((origin) => (origin === null ? aggregations : staleKeys.has(ownerKey(origin))));
    this.engine.loadInstances(await this.opts.states.load(stale, aggregations));
    const since = this.opts.clock() - this.engine.retentionMs;
    const ranges = new Map<string, Map<number, { from: bigint; high: bigint }>>();
    for (const topic of new Set(stale.map((o) => o.topic))) {
      ranges.set(topic, await offsetsSince(this.opts.kafka, topic, since));
      this.ownership.partitionTotals.set(topic, ranges.get(topic)!.size);
    }
    for (const origin of stale) {
      const range = ranges.get(origin.topic)!.get(origin.partition) ?? { from: 0n, high: 0n };
      this.ownership.partitions.set(ownerKey(origin), {
        origin,
        generation: claims.get(ownerKey(origin))!.generation,
        owned: true,
        next: range.from,
        replayUntil: range.high,
        ready: range.from >= range.high,
        awaitingFirst: true,
        committedAt: 0,
        committed: range.from,
      });
      if (range.from < range.high) this.ownership.consumer?.seek(origin.topic, origin.partition, range.from.toString());
    }
    if (aggregations) {
      this.ownership.aggregationsGeneration = claims.get(ownerKey(null))!.generation;
      this.ownership.aggregationsOwned = true;
    }
    this.opts.logger.info({ reloaded: stale.map(ownerKey), aggregations }, 'alerter took over partitions');
  }

  /** Drops queued, unsaved changes of the owner partitions `stale` selects, counting them as fenced out. */
  private discardQueued(stale: OwnerSelector): void {
    const dropped = new Map<string, { origin: Origin | null; n: number }>();
    const count = (origin: Origin | null) => {
      const entry = dropped.get(ownerKey(origin)) ?? { origin, n: 0 };
      entry.n++;
      dropped.set(ownerKey(origin), entry);
    };
    for (let i = 0; i < this.unsaved.length; i++) {
      const c = this.unsaved[i];
      const ended = new Set(c.transitions.filter((t) => stale(t.origin)).map((t) => `${t.ruleId}/${t.fingerprint}`));
      for (const op of c.ops) if (op.kind === 'upsert' && stale(op.instance.origin)) count(op.instance.origin);
      for (const t of c.transitions) if (stale(t.origin)) count(t.origin);
      this.unsaved[i] = {
        ops: c.ops.filter((op) =>
          op.kind === 'upsert' ? !stale(op.instance.origin) : !ended.has(`${op.ruleId}/${op.fingerprint}`),
        ),
        transitions: c.transitions.filter((t) => !stale(t.origin)),
      };
    }
    for (const { origin, n } of dropped.values()) {
      const held =
        origin === null
          ? (this.ownership.aggregationsGeneration ?? undefined)
          : this.ownership.partitions.get(ownerKey(origin))?.generation;
      this.ownership.countFenced(origin, n, held);
    }
  }

  /**
   * Several members share the partitions: each writes the partial aggregates of its partitions, and the member that
   * evaluates aggregations combines everyone's fresh partials (a member that stopped writing drops out after a few
   * ticks) — exact, one tick behind. Alone, the engine aggregates its own series, on arrival.
   */
  private async exchangePartials(now: number): Promise<void> {
    if (this.ownership.ownsAll || !this.engine.hasAggregations) {
      this.engine.setCombined(null);
      return;
    }
    try {
      const owned = [...this.ownership.partitions.values()].filter((p) => p.ready && p.owned);
      const origins = owned.map((p) => p.origin);
      await this.opts.states.savePartials(this.engine.partials(now), origins, (o) => this.generationOf(o), now);
      if (this.ownership.leader)
        this.engine.setCombined(
          await this.opts.states.loadPartials(now - PARTIALS_FRESH_TICKS * this.opts.tickMs - PARTIALS_FRESH_GRACE_MS),
        );
    } catch (error) {
      this.opts.logger.warn(
        { err: error },
        'partial aggregates not exchanged; aggregating rules wait for the next tick',
      );
    }
  }

  private async process(batch: PartitionBatch, control: BatchControl): Promise<void> {
    const state = this.ownership.partitions.get(ownerKey({ topic: batch.topic, partition: batch.partition }));
    if (!state || control.isStale() || batch.records.length === 0) return;
    if (!state.owned) {
      state.awaitingFirst = true; // a claim is pending: once it succeeds the partition continues from state.next
      return;
    }
    const started = process.hrtime.bigint();
    if (state.awaitingFirst) {
      if (BigInt(batch.records[0].offset) > state.next) {
        control.seek(state.next.toString());
        return;
      }
      state.awaitingFirst = false;
    }
    const isMetrics = batch.topic === this.opts.topics.metrics;
    for (const record of batch.records) {
      const offset = BigInt(record.offset);
      if (offset < state.next) continue;
      const evaluate = offset >= state.replayUntil;
      if (isMetrics) {
        for (const sample of decodeMetrics(record, this.opts.decode)) {
          const { name, labels, timestamp, value, metric_type: type } = sample;
          this.engine.ingestMetric(name, labels, timestamp, value, state.origin, evaluate, type);
        }
      } else {
        for (const event of decodeEvents(record, this.opts.decode))
          this.engine.ingestEvent(event, state.origin, evaluate);
      }
      state.next = offset + 1n;
    }
    const now = this.opts.clock();
    const changes = this.engine.evaluateTouched(now);
    if (!state.ready && state.next >= state.replayUntil) {
      state.ready = true;
      this.engine.evaluateAll(now, changes);
    }
    this.persist(changes);
    // Back-pressure: while PostgreSQL is slow or refuses, stop taking data rather than piling up unsaved changes.
    while (this.unsaved.length > MAX_UNSAVED && this.flushing && control.isRunning()) {
      await withTimeout(this.flushing, FLUSH_WAIT_MS, () => undefined);
      await control.heartbeat();
    }
    // Kafka's committed offset is for lag monitoring only (a new owner re-reads by time): at most once a second
    // here, and the tick commits whatever is left behind.
    if (now - state.committedAt >= COMMIT_INTERVAL_MS) this.commit(state, now);
    this.opts.metrics.evaluationSeconds.observe({ kind: 'batch' }, secondsSince(started));
  }

  private commit(state: PartitionState, now: number): void {
    state.committedAt = now;
    state.committed = state.next;
    void this.ownership.consumer?.commit(state.origin.topic, state.origin.partition, state.next.toString());
  }

  /**
   * Queues changes for the state writer, which saves everything queued so far in one transaction while evaluation
   * goes on (in order; a failed save is retried after a second). Notifications wait for the save. A crash loses
   * at most the queued changes, which the next owner recomputes from PostgreSQL's states and the re-read windows.
   */
  private persist(changes: Changes): void {
    if (!isEmpty(changes)) this.unsaved.push(changes);
    if (this.unsaved.length > 0) this.flushing ??= this.flush().finally(() => (this.flushing = null));
  }

  private async flush(): Promise<void> {
    while (this.unsaved.length > 0) {
      // Taken under the store lock: a claim in between has already removed what it made stale.
      const outcome = await this.ownership.storeLock.run(async () => {
        const queued = this.unsaved.splice(0, this.unsaved.length);
        const merged: Changes = {
          ops: queued.flatMap((c) => c.ops),
          transitions: queued.flatMap((c) => c.transitions),
        };
        if (merged.ops.length === 0 && merged.transitions.length === 0) return 'saved';
        const fenced: { origin: Origin | null; dropped: number; held: string | undefined }[] = [];
        try {
          const saved = await this.opts.states.save(
            merged,
            (id) => this.engine.rule(id)?.name ?? merged.transitions.find((t) => t.ruleId === id)?.rule?.name ?? id,
            (origin) => this.generationOf(origin),
            (origin, dropped) => fenced.push({ origin, dropped, held: this.generationOf(origin) }),
          );
          const lost = new Set(fenced.map((f) => ownerKey(f.origin)));
          for (const t of merged.transitions) {
            if (!lost.has(ownerKey(t.origin))) this.opts.metrics.transitions.inc({ to: t.to });
          }
          this.opts.dispatcher.enqueue(saved);
          for (const f of fenced) {
            this.ownership.countFenced(f.origin, f.dropped, f.held);
            if (f.held !== undefined) this.ownership.loseOwnership(f.origin, undefined, 'fence');
          }
          return 'saved';
        } catch (error) {
          this.unsaved.unshift(...queued);
          const waiting = this.unsaved.length;
          this.opts.logger.warn({ err: error, waiting }, 'alert states not saved; retrying in a second');
          return 'failed';
        }
      });
      if (outcome === 'failed') {
        if (this.stopping) return;
        await new Promise((r) => setTimeout(r, RETRY_AFTER_FAILURE_MS));
      }
    }
  }
}
