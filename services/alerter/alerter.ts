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
 */
import type { Kafka } from '../../shared/kafka/client.ts';
import type { BatchConsumer, BatchControl, PartitionBatch } from '../../shared/kafka/consumer.ts';
import { offsetsSince } from '../../shared/kafka/offsets.ts';
import type { Logger } from '../../shared/logger.ts';
import type { DecodeContext } from './decode.ts';
import { decodeEvents, decodeMetrics } from './decode.ts';
import { AlertEngine, isEmpty, ruleInfo, type Changes } from './engine/engine.ts';
import type { StateStore } from './engine/state-store.ts';
import { compileQuery } from '../../shared/promql/compile.ts';
import type { ParseOptions } from '../../shared/promql/parser.ts';
import type { Origin } from '../../shared/promql/windows.ts';
import type { AlerterMetrics } from './metrics.ts';
import type { Dispatcher } from './notify/dispatcher.ts';
import type { RuleStore } from './rules/rule-store.ts';
import type { EngineRule } from './rules/rule.ts';
import { Serial } from './serial.ts';

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
  logger: Logger;
  metrics: AlerterMetrics;
  clock: () => number;
}

interface PartitionState {
  origin: Origin;
  /** Owner generation claimed in alert_partition_owners: saves for this partition are fenced by it. */
  generation: string;
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

const key = (o: Origin) => `${o.topic}:${o.partition}`;
/** Evaluations waiting to be saved; beyond this many the alerter stops taking data until the writer catches up. */
const MAX_UNSAVED = 10_000;

export class Alerter {
  readonly engine: AlertEngine;
  private readonly serial = new Serial();
  private readonly partitions = new Map<string, PartitionState>();
  private leader = false;
  private aggregationsGeneration: string | null = null;
  private ownsAll = true;
  /** Partitions per topic, as last seen at an assignment. */
  private readonly partitionTotals = new Map<string, number>();
  private ruleRevision = '';
  private readonly unsaved: Changes[] = [];
  private flushing: Promise<void> | null = null;
  private stopping = false;
  private lastResend = 0;
  consumer: BatchConsumer | null = null;

  constructor(private readonly opts: AlerterOptions) {
    this.engine = new AlertEngine({ lookbackMs: opts.lookbackMs, isReady: (origin) => this.isReady(origin) });
  }

  /** Loads the rules; call before the consumer joins the group. */
  init(): Promise<void> {
    return this.serial.run(() => this.refreshRules());
  }

  onAssignment(assignment: Record<string, number[]>): void {
    this.serial.run(() => this.reassign(assignment)).catch((error) => this.opts.logger.error({ err: error }, 'alerter reassignment failed'));
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
      for (const state of this.partitions.values()) if (state.committed < state.next) this.commit(state, now);
      if (now - this.lastResend >= this.opts.resendMs) {
        this.lastResend = now;
        const firing = [...this.engine.firing()].map(([rule, i]) => ({ rule: ruleInfo(rule), labels: i.labels, value: i.value, activeAt: i.activeAt, resolvedAt: null }));
        void this.opts.dispatcher.resend(firing, now);
        void this.opts.dispatcher.sweep().catch((error) => this.opts.logger.warn({ err: error }, 'outbox sweep failed'));
      }
      this.opts.metrics.evaluationSeconds.observe({ kind: 'tick' }, Number(process.hrtime.bigint() - started) / 1e9);
      this.opts.metrics.series.set(this.engine.windows.seriesCount);
      let firing = 0;
      for (const _ of this.engine.firing()) firing++;
      this.opts.metrics.instances.set({ state: 'firing' }, firing);
      this.opts.metrics.instances.set({ state: 'pending' }, this.engine.instanceCount - firing);
    });
  }

  /** A rule changed through the API of this process: reload now rather than at the next tick. */
  rulesChanged(): void {
    this.ruleRevision = '';
    this.serial.run(() => this.refreshRules()).catch((error) => this.opts.logger.warn({ err: error }, 'rule reload failed'));
  }

  /** Waits for the jobs under way and the saves they queued. */
  async idle(): Promise<void> {
    await this.serial.idle();
    while (this.flushing) await this.flushing;
  }

  /** Stops retrying failed saves (the next owner recomputes what was not saved). */
  stop(): void {
    this.stopping = true;
  }

  /** Partitions (of both topics) this instance owns. */
  get partitionCount(): number {
    return this.partitions.size;
  }

  /** True when every partition this instance owns has rebuilt its windows. */
  get caughtUp(): boolean {
    return [...this.partitions.values()].every((p) => p.ready);
  }

  private isReady(origin: Origin | null): boolean {
    if (origin === null) return this.leader && this.caughtUp;
    return this.partitions.get(key(origin))?.ready ?? false;
  }

  private async refreshRules(): Promise<void> {
    const revision = await this.opts.rules.revision();
    if (revision === this.ruleRevision) return;
    const compiled: EngineRule[] = [];
    for (const definition of await this.opts.rules.all()) {
      try {
        compiled.push({ ...definition, ...compileQuery(definition, this.opts.parse) });
      } catch (error) {
        this.opts.logger.warn({ err: error, rule_id: definition.id }, 'alert rule does not compile (ALERTER_MAX_RANGE_SECONDS lowered?); skipped');
      }
    }
    const now = this.opts.clock();
    const before = { ...this.engine.windows.kept(), retentionMs: this.engine.retentionMs };
    this.persist(this.engine.setRules(compiled, now));
    this.ruleRevision = revision;
    await this.refill(before, now);
  }

  /**
   * After a rule change, the windows of the partitions this instance owns may lack data the new rules read: a metric
   * name or event selector no rule kept before, or a longer range than any before. Prometheus would read its stored
   * history; here those partitions are re-read from Kafka over the new retention (exactly as after an assignment:
   * their windows dropped and rebuilt without evaluating, their alert instances kept, then judged once), so a new
   * `avg_over_time(x[10m])` judges ten minutes of samples at once rather than what arrives after its creation.
   */
  private async refill(before: { names: Set<string>; eventKeys: Set<string>; retentionMs: number }, now: number): Promise<void> {
    if (this.partitions.size === 0) return; // the first load: assignment will read the whole retention anyway
    const after = this.engine.windows.kept();
    const grew = this.engine.retentionMs > before.retentionMs;
    const topics: string[] = [];
    if ([...after.names].some((n) => !before.names.has(n)) || (grew && after.names.size > 0)) topics.push(this.opts.topics.metrics);
    if ([...after.eventKeys].some((k) => !before.eventKeys.has(k)) || (grew && after.eventKeys.size > 0)) topics.push(this.opts.topics.events);
    for (const topic of topics) {
      const owned = [...this.partitions.values()].filter((s) => s.origin.topic === topic);
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
        this.consumer?.seek(topic, state.origin.partition, from.toString());
        refilled.push(state.origin.partition);
      }
      if (refilled.length > 0) this.opts.logger.info({ topic, partitions: refilled }, 'rules need older data: re-reading these partitions to fill their windows');
    }
  }

  private async reassign(assignment: Record<string, number[]>): Promise<void> {
    const owned = new Map<string, Origin>();
    for (const [topic, partitions] of Object.entries(assignment)) for (const partition of partitions) owned.set(key({ topic, partition }), { topic, partition });
    for (const k of this.partitions.keys()) if (!owned.has(k)) this.partitions.delete(k);
    const wasLeader = this.leader;
    this.leader = owned.has(key({ topic: this.opts.topics.metrics, partition: 0 }));
    if (!this.leader) this.aggregationsGeneration = null;
    this.engine.dropWhere((origin) => (origin === null ? !this.leader : !owned.has(key(origin))));

    const gained = [...owned.values()].filter((o) => !this.partitions.has(key(o)));
    const loadAggregations = this.leader && !wasLeader;
    if (gained.length === 0 && !loadAggregations) {
      this.reportAggregations(owned);
      return;
    }
    // Claim first: the claim waits for the previous owner's save under way and fences out its later ones.
    const generations = await this.opts.states.claim(gained, loadAggregations);
    if (loadAggregations) this.aggregationsGeneration = generations.get(':-1') ?? null;
    this.engine.loadInstances(await this.opts.states.load(gained, loadAggregations));
    const since = this.opts.clock() - this.engine.retentionMs;
    for (const topic of new Set(gained.map((o) => o.topic))) {
      const ranges = await offsetsSince(this.opts.kafka, topic, since);
      this.partitionTotals.set(topic, ranges.size);
      for (const origin of gained.filter((o) => o.topic === topic)) {
        const range = ranges.get(origin.partition) ?? { from: 0n, high: 0n };
        this.partitions.set(key(origin), { origin, generation: generations.get(key(origin))!, next: range.from, replayUntil: range.high, ready: range.from >= range.high, awaitingFirst: true, committedAt: 0, committed: range.from });
        if (range.from < range.high) this.consumer?.seek(topic, origin.partition, range.from.toString());
      }
    }
    this.opts.logger.info({ gained: gained.map(key), leader: this.leader }, 'alerter took over partitions');
    this.reportAggregations(owned);
  }

  /** Whether this member owns every partition (then aggregations are computed from its own series alone). */
  private reportAggregations(owned: Map<string, Origin>): void {
    this.ownsAll = [...this.partitionTotals].every(([topic, total]) => [...owned.values()].filter((o) => o.topic === topic).length === total);
    this.opts.metrics.aggregationsComplete.set(this.leader && this.ownsAll ? 1 : 0);
  }

  /**
   * Several members share the partitions: each writes the partial aggregates of its partitions, and the member that
   * evaluates aggregations combines everyone's fresh partials (a member that stopped writing drops out after a few
   * ticks) — exact, one tick behind. Alone, the engine aggregates its own series, on arrival.
   */
  private async exchangePartials(now: number): Promise<void> {
    if (this.ownsAll || !this.engine.hasAggregations) {
      this.engine.setCombined(null);
      return;
    }
    try {
      const owned = [...this.partitions.values()].filter((p) => p.ready);
      await this.opts.states.savePartials(this.engine.partials(now), owned.map((p) => p.origin), (o) => this.partitions.get(key(o))?.generation, now);
      if (this.leader) this.engine.setCombined(await this.opts.states.loadPartials(now - 3 * this.opts.tickMs - 2000));
    } catch (error) {
      this.opts.logger.warn({ err: error }, 'partial aggregates not exchanged; aggregating rules wait for the next tick');
    }
  }

  private async process(batch: PartitionBatch, control: BatchControl): Promise<void> {
    const state = this.partitions.get(key({ topic: batch.topic, partition: batch.partition }));
    if (!state || control.isStale() || batch.records.length === 0) return;
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
        for (const sample of decodeMetrics(record, this.opts.decode)) this.engine.ingestMetric(sample.name, sample.labels, sample.timestamp, sample.value, state.origin, evaluate);
      } else {
        for (const event of decodeEvents(record, this.opts.decode)) this.engine.ingestEvent(event, state.origin, evaluate);
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
      await Promise.race([this.flushing, new Promise((r) => setTimeout(r, 1000))]);
      await control.heartbeat();
    }
    // Kafka's committed offset is for lag monitoring only (a new owner re-reads by time): at most once a second
    // here, and the tick commits whatever is left behind.
    if (now - state.committedAt >= 1000) this.commit(state, now);
    this.opts.metrics.evaluationSeconds.observe({ kind: 'batch' }, Number(process.hrtime.bigint() - started) / 1e9);
  }

  private commit(state: PartitionState, now: number): void {
    state.committedAt = now;
    state.committed = state.next;
    void this.consumer?.commit(state.origin.topic, state.origin.partition, state.next.toString());
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
      const queued = this.unsaved.splice(0, this.unsaved.length);
      const merged: Changes = { ops: queued.flatMap((c) => c.ops), transitions: queued.flatMap((c) => c.transitions) };
      try {
        const saved = await this.opts.states.save(
          merged,
          (id) => this.engine.rule(id)?.name ?? merged.transitions.find((t) => t.ruleId === id)?.rule?.name ?? id,
          (origin) => (origin === null ? this.aggregationsGeneration ?? undefined : this.partitions.get(key(origin))?.generation),
        );
        for (const t of merged.transitions) this.opts.metrics.transitions.inc({ to: t.to });
        this.opts.dispatcher.enqueue(saved);
      } catch (error) {
        this.unsaved.unshift(...queued);
        this.opts.logger.warn({ err: error, waiting: this.unsaved.length }, 'alert states not saved; retrying in a second');
        if (this.stopping) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
}

