/**
 * The evaluation core of one alerter instance, free of Kafka and PostgreSQL: rules, windows and the pending/firing
 * instances of the partitions this instance owns. Data arrives through ingest*(); evaluateTouched() re-evaluates
 * only what the arriving data can change (per-series rules for the touched series, aggregations that read a touched
 * metric or event selector); evaluateAll() (the tick) evaluates everything, which is how `for` elapses and stale
 * series resolve without new data. Both return the Changes to persist, in order.
 *
 * Rules are PromQL (shared/promql/compile.ts) evaluated by the same engine as the query API, over the windows as
 * stored series. A per-series rule is evaluated on each of its series alone, so every result element has the
 * partition of its series; any other rule is evaluated once over all local series (origin null).
 *
 * isReady(origin) keeps the engine from judging a partition whose windows are still being re-read after an
 * assignment (origin null: aggregations, evaluated only by the owner of metrics partition 0 once all its
 * partitions are ready).
 */
import crypto from 'node:crypto';
import { seriesFingerprint } from '../../../shared/schemas/metric.ts';
import type { MetricType } from '../../../shared/schemas/metric.ts';
import { groupOf } from '../../../shared/promql/aggregations.ts';
import {
  dropName,
  Evaluator,
  type Sample,
  type SeriesSource,
  type StoredSeries,
  type Value,
} from '../../../shared/promql/engine.ts';
import type { Aggregation, Expr } from '../../../shared/promql/expr.ts';
import {
  EVENTS,
  matches,
  selectorKey,
  WindowStore,
  type EventInput,
  type EventStream,
  type Labels,
  type MetricSeries,
  type Origin,
} from '../../../shared/promql/windows.ts';
import type { EngineRule } from '../rules/rule.ts';
import { retire, step, type Instance, type RuleInfo, type Transition } from './state.ts';

/** What one evaluation changed, in order: instance writes (the last per instance wins) and transitions. */
export interface Changes {
  ops: InstanceOp[];
  transitions: Transition[];
}

/** A result element of a rule: an alert instance's labels and value, and the partition that owns it (null: none). */
interface Element {
  labels: Labels;
  value: number;
  origin: Origin | null;
}

/** Running figures of a group; each operator of a partial is a function of them, so partials merge exactly. */
export interface GroupFigures {
  sum: number;
  count: number;
  min: number;
  max: number;
}

/** The figures of one group of a rule's partial aggregation (compile.ts) over the series of one partition. */
export interface PartialAggregate {
  ruleId: string;
  groupKey: string;
  labels: Labels;
  origin: Origin;
  figures: GroupFigures;
}

export type InstanceOp =
  | { kind: 'upsert'; instance: Instance }
  | { kind: 'delete'; ruleId: string; fingerprint: string };

export interface EngineOptions {
  lookbackMs: number;
  isReady(origin: Origin | null): boolean;
  /** Instances held per rule at most (ALERTER_MAX_INSTANCES_PER_RULE); beyond it the rule's overflow alert fires. */
  maxInstancesPerRule?: number;
  /** Told how many result series an evaluation could not turn into instances because their rule was full. */
  onRefused?(count: number): void;
}

/**
 * The labels of the one alert a rule fires instead of the instances beyond its cap: value = the result series the
 * latest evaluation refused; resolved by the first full evaluation (tick) that refuses none.
 */
export const CARDINALITY_LABELS: Labels = Object.freeze({ vigil_alert: 'cardinality_exceeded' });
export const CARDINALITY_FINGERPRINT = instanceFingerprintOf(CARDINALITY_LABELS);
const CARDINALITY_TIMING = { forMs: 0, keepFiringForMs: 0 };
const DEFAULT_MAX_INSTANCES_PER_RULE = 1000;

/** Result series refused in one evaluation of a rule, and the partition of the first (the overflow alert's owner). */
interface Refusals {
  count: number;
  origin: Origin | null;
}

export function emptyChanges(): Changes {
  return { ops: [], transitions: [] };
}

export function isEmpty(changes: Changes): boolean {
  return changes.ops.length === 0 && changes.transitions.length === 0;
}

/**
 * A group's key as stored in alert_partials: the SHA-256 of its label values, so that a label value of any length
 * (up to INGEST_LABEL_VALUE_MAX_LENGTH) keeps the table's primary key under PostgreSQL's btree limit.
 */
export function groupDigest(key: string): string {
  return crypto.createHash('sha256').update(key).digest('base64');
}

/** The identity of an alert instance within its rule: its labels. */
export function instanceFingerprint(labels: Labels): string {
  return instanceFingerprintOf(labels);
}

function instanceFingerprintOf(labels: Labels): string {
  return seriesFingerprint('', labels);
}

type Readable = StoredSeries & { origin: Origin | null; instanceFingerprint: string | null };

/** A per-series rule's result on one series: its instance's labels and fingerprint, and value (none: no result). */
interface SeriesResult {
  series: Readable;
  labels: Labels;
  fingerprint: string;
  value?: number;
}

const NO_SERIES: MetricSeries[] = [];

export class AlertEngine {
  readonly windows = new WindowStore();
  private rules = new Map<string, EngineRule>();
  /** Metric rules by the metric names they read. */
  private byName = new Map<string, EngineRule[]>();
  /** Per-series event rules, and the other event rules, by the key of their event selector. */
  private perStream = new Map<string, EngineRule[]>();
  private streamAggregated = new Map<string, EngineRule[]>();
  private aggregated: EngineRule[] = [];
  /**
   * The match between series and metric rules, kept as series appear and go and rules change, so that neither a
   * sample nor a tick ever tests a rule's matchers against series it cannot select.
   */
  private readonly seriesRules = new Map<MetricSeries, EngineRule[]>();
  private readonly ruleSeries = new Map<string, Set<MetricSeries>>();
  private readonly instances = new Map<string, Map<string, Instance>>();
  private readonly touchedSeries = new Set<MetricSeries>();
  private readonly touchedStreams = new Map<string, Set<EventStream>>();
  /** Result series refused per rule (the rule held its cap of instances) during the evaluation under way. */
  private readonly refusals = new Map<string, Refusals>();
  private readonly maxInstancesPerRule: number;
  private retention = 0;
  /** Values of the rules' partial aggregations combined from every member's partials; null: from local series. */
  private combined: Map<string, Value> | null = null;

  constructor(private readonly opts: EngineOptions) {
    this.maxInstancesPerRule = opts.maxInstancesPerRule ?? DEFAULT_MAX_INSTANCES_PER_RULE;
    this.windows.onRemoveSeries = (series) => {
      for (const rule of this.seriesRules.get(series) ?? []) this.ruleSeries.get(rule.id)?.delete(series);
      this.seriesRules.delete(series);
      this.touchedSeries.delete(series);
    };
  }

  /** How far back windows must reach for the current rules: the longest range plus the lookback. */
  get retentionMs(): number {
    return this.retention;
  }

  /**
   * Partial figures per (rule, group, partition) of the rules' partial aggregations (`sum by (job) (rate(x[5m]))`),
   * over the series of this member's ready partitions.
   */
  partials(now: number): PartialAggregate[] {
    const out: PartialAggregate[] = [];
    for (const rule of this.aggregated) {
      const agg = rule.partial;
      if (!agg) continue;
      const byOrigin = new Map<string, { origin: Origin; series: Readable[] }>();
      for (const series of this.seriesOf(rule)) {
        if (series.origin === null || !this.opts.isReady(series.origin)) continue;
        const key = `${series.origin.topic}:${series.origin.partition}`;
        let entry = byOrigin.get(key);
        if (!entry) byOrigin.set(key, (entry = { origin: series.origin, series: [] }));
        entry.series.push(series);
      }
      for (const { origin, series } of byOrigin.values()) out.push(...this.partialsOf(rule, agg, origin, series, now));
    }
    return out;
  }

  private partialsOf(
    rule: EngineRule,
    agg: Aggregation,
    origin: Origin,
    series: Readable[],
    now: number,
  ): PartialAggregate[] {
    const groups = new Map<string, PartialAggregate>();
    for (const sample of this.evaluate(agg.expr, { select: () => series }, now)) {
      const group = groupOf(agg, sample.labels);
      let partial = groups.get(group.key);
      if (!partial) {
        const groupKey = groupDigest(group.key);
        partial = { ruleId: rule.id, groupKey, labels: group.labels, origin, figures: emptyFigures() };
        groups.set(group.key, partial);
      }
      addTo(partial.figures, sample.value);
    }
    return [...groups.values()];
  }

  /**
   * Uses partials from every partition (all members) for the partial aggregations from now on; null goes back to
   * computing them from the local series (this member owns every partition).
   */
  setCombined(partials: readonly PartialAggregate[] | null): void {
    if (partials === null) {
      this.combined = null;
      return;
    }
    const byRule = new Map<string, Map<string, { labels: Labels; figures: GroupFigures }>>();
    for (const p of partials) {
      let groups = byRule.get(p.ruleId);
      if (!groups) byRule.set(p.ruleId, (groups = new Map()));
      const group = groups.get(p.groupKey);
      if (!group) groups.set(p.groupKey, { labels: p.labels, figures: { ...p.figures } });
      else {
        group.figures.sum += p.figures.sum;
        group.figures.count += p.figures.count;
        group.figures.min = Math.min(group.figures.min, p.figures.min);
        group.figures.max = Math.max(group.figures.max, p.figures.max);
      }
    }
    this.combined = new Map();
    for (const rule of this.aggregated) {
      if (!rule.partial) continue;
      const op = rule.partial.op;
      const groups = byRule.get(rule.id) ?? new Map();
      const samples = [...groups.values()].map((g) => ({ labels: g.labels, value: aggregateValue(op, g.figures) }));
      this.combined.set(rule.id, { type: 'vector', samples });
    }
  }

  get hasAggregations(): boolean {
    return this.aggregated.length > 0;
  }

  get ruleCount(): number {
    return this.rules.size;
  }

  rule(id: string): EngineRule | undefined {
    return this.rules.get(id);
  }

  /**
   * Replaces the rule set. Instances of rules that are gone, disabled, or whose query or threshold changed are
   * retired (firing → resolved, pending → inactive); instances of rules that only changed timing or labels stay.
   */
  setRules(rules: readonly EngineRule[], now: number): Changes {
    const changes = emptyChanges();
    const next = new Map(rules.filter((r) => r.enabled).map((r) => [r.id, r]));
    for (const [id, old] of this.rules) {
      const replacement = next.get(id);
      if (replacement?.query === old.query && replacement.threshold_value === old.threshold_value) continue;
      for (const instance of this.instances.get(id)?.values() ?? []) {
        changes.transitions.push({ ...retire(instance, now), rule: ruleInfo(old) });
        changes.ops.push({ kind: 'delete', ruleId: id, fingerprint: instance.fingerprint });
      }
      this.instances.delete(id);
    }
    this.rules = next;
    this.byName = new Map();
    this.perStream = new Map();
    this.streamAggregated = new Map();
    this.aggregated = [];
    let longest = 0;
    for (const rule of next.values()) {
      longest = Math.max(longest, rule.rangeMs);
      if (rule.aggregated) this.aggregated.push(rule);
      for (const selector of rule.selectors) {
        if (selector.name !== EVENTS) pushOnce(this.byName, selector.name!, rule);
        else pushOnce(rule.aggregated ? this.streamAggregated : this.perStream, selectorKey(selector), rule);
      }
    }
    this.retention = longest + this.opts.lookbackMs;
    this.windows.setSelectors([...next.values()].flatMap((r) => r.selectors));
    this.seriesRules.clear();
    this.ruleSeries.clear();
    for (const series of this.windows.allSeries()) this.index(series);
    return changes;
  }

  private index(series: MetricSeries): EngineRule[] {
    const reads = (rule: EngineRule) =>
      rule.selectors.some((s) => s.name === series.name && s.matchers.every((m) => matches(m, series.labels[m.label])));
    const rules = (this.byName.get(series.name) ?? []).filter(reads);
    this.seriesRules.set(series, rules);
    for (const rule of rules) {
      let set = this.ruleSeries.get(rule.id);
      if (!set) this.ruleSeries.set(rule.id, (set = new Set()));
      set.add(series);
    }
    return rules;
  }

  /**
   * Adds a stored sample (of its metric_type: a counter's increment, a histogram's observation) to the windows; with
   * `evaluate`, the next evaluateTouched() looks at the series it feeds.
   */
  ingestMetric(
    name: string,
    labels: Labels,
    t: number,
    v: number,
    origin: Origin,
    evaluate: boolean,
    type: MetricType = 'gauge',
  ): void {
    for (const series of this.windows.addMetric(name, type, labels, t, v, origin)) {
      const rules = this.seriesRules.get(series) ?? this.index(series);
      if (evaluate && rules.length > 0) this.touchedSeries.add(series);
    }
  }

  ingestEvent(event: EventInput, origin: Origin, evaluate: boolean): void {
    const touched = this.windows.addEvent(event, origin);
    if (!evaluate) return;
    for (const [key, stream] of touched) {
      let streams = this.touchedStreams.get(key);
      if (!streams) this.touchedStreams.set(key, (streams = new Set()));
      streams.add(stream);
    }
  }

  evaluateTouched(now: number, changes = emptyChanges()): Changes {
    const aggregatedDue = new Set<EngineRule>();
    const perSeriesDue = new Map<EngineRule, Readable[]>();
    for (const series of this.touchedSeries) {
      if (!this.opts.isReady(series.origin)) continue;
      for (const rule of this.seriesRules.get(series) ?? []) {
        if (rule.aggregated) aggregatedDue.add(rule);
        else push(perSeriesDue, rule, series);
      }
    }
    for (const [key, streams] of this.touchedStreams) {
      const ready = [...streams].filter((stream) => this.opts.isReady(stream.origin));
      for (const rule of this.perStream.get(key) ?? []) for (const stream of ready) push(perSeriesDue, rule, stream);
      for (const rule of this.streamAggregated.get(key) ?? []) aggregatedDue.add(rule);
    }
    for (const [rule, series] of perSeriesDue) {
      for (const r of this.resultsOf(rule, series, now)) {
        this.observe(rule, r.labels, r.series.origin, r.value, now, changes, r.fingerprint);
      }
    }
    this.touchedSeries.clear();
    this.touchedStreams.clear();
    // Only some series were looked at: refusals raise the overflow alert, their absence proves nothing.
    for (const ruleId of this.refusals.keys()) this.settleOverflow(this.rules.get(ruleId)!, now, changes, false);
    // Combined from partials, aggregations change on the tick (when the partials do), not per sample.
    if (this.combined === null) for (const rule of aggregatedDue) this.evaluateRule(rule, now, changes);
    return changes;
  }

  evaluateAll(now: number, changes = emptyChanges()): Changes {
    this.touchedSeries.clear();
    this.touchedStreams.clear();
    for (const rule of this.rules.values()) this.evaluateRule(rule, now, changes);
    return changes;
  }

  /** Drops samples no rule can look at any more. */
  prune(now: number): void {
    this.windows.pruneThrough(now - this.retention);
  }

  /** Whether a rule (enabled) is known to the engine. */
  knows(ruleId: string): boolean {
    return this.rules.has(ruleId);
  }

  /** Instances read back from PostgreSQL for partitions this instance just took over. */
  loadInstances(instances: readonly Instance[]): void {
    for (const instance of instances) {
      if (!this.rules.has(instance.ruleId)) continue;
      let byRule = this.instances.get(instance.ruleId);
      if (!byRule) this.instances.set(instance.ruleId, (byRule = new Map()));
      byRule.set(instance.fingerprint, instance);
    }
  }

  /** Forgets the windows and instances of partitions this instance lost (their new owner reloads them). */
  dropWhere(lost: (origin: Origin | null) => boolean): void {
    this.windows.dropWhere(lost);
    for (const byRule of this.instances.values())
      for (const [fp, instance] of byRule) if (lost(instance.origin)) byRule.delete(fp);
  }

  /** Firing instances with their rules (Alertmanager re-sends). */
  *firing(): Iterable<[EngineRule, Instance]> {
    for (const [ruleId, byRule] of this.instances) {
      const rule = this.rules.get(ruleId);
      if (!rule) continue;
      for (const instance of byRule.values()) if (instance.state === 'firing') yield [rule, instance];
    }
  }

  get instanceCount(): number {
    let n = 0;
    for (const byRule of this.instances.values()) n += byRule.size;
    return n;
  }

  /** What a rule of one selector reads: its metric series (matched once, kept in the index) or its event streams. */
  private seriesOf(rule: EngineRule): Iterable<Readable> {
    const selector = rule.selectors[0];
    return selector.name === EVENTS ? this.windows.streams(selector) : (this.ruleSeries.get(rule.id) ?? NO_SERIES);
  }

  private evaluate(expr: Expr, source: SeriesSource, now: number, given?: ReadonlyMap<Expr, Value>): Sample[] {
    const value = new Evaluator(source, { lookbackMs: this.opts.lookbackMs, given }).instant(expr, now);
    return value.type === 'vector' ? value.samples : [];
  }

  /**
   * A per-series rule over some of its series, evaluated once: each series' instance labels, fingerprint and value
   * (undefined: no result). Results find their series by its labels (the same object, name dropped); an expression
   * that rewrites labels (label_replace) is evaluated one series at a time.
   */
  private resultsOf(rule: EngineRule, series: Readable[], now: number): SeriesResult[] {
    const byLabels = new Map<Labels, Readable>();
    for (const one of series) byLabels.set(dropName(one.labels), one);
    const found = new Map<Readable, Sample>();
    for (const sample of this.evaluate(rule.expr, { select: () => series }, now)) {
      const one = byLabels.get(dropName(sample.labels));
      if (!one) return series.map((s) => this.resultOf(rule, s, now));
      found.set(one, sample);
    }
    return series.map((one) => {
      const labels = dropName(one.labels);
      const fingerprint = (one.instanceFingerprint ??= instanceFingerprint(labels));
      return { series: one, labels, fingerprint, value: found.get(one)?.value };
    });
  }

  /** A per-series rule on one series alone. */
  private resultOf(rule: EngineRule, series: Readable, now: number): SeriesResult {
    const [sample] = this.evaluate(rule.expr, { select: () => [series] }, now);
    const own = dropName(series.labels);
    const labels = sample ? dropName(sample.labels) : own;
    const fingerprint =
      labels === own ? (series.instanceFingerprint ??= instanceFingerprint(own)) : instanceFingerprint(labels);
    return { series, labels, fingerprint, value: sample?.value };
  }

  private evaluateRule(rule: EngineRule, now: number, changes: Changes): void {
    if (rule.aggregated && !this.opts.isReady(null)) return;
    const seen = new Set<string>();
    if (rule.aggregated) {
      for (const element of this.aggregatedElements(rule, now)) {
        seen.add(this.observe(rule, element.labels, null, element.value, now, changes));
      }
    } else {
      const ready = [...this.seriesOf(rule)].filter((series) => this.opts.isReady(series.origin));
      for (const r of this.resultsOf(rule, ready, now)) {
        if (r.value === undefined) continue;
        seen.add(this.observe(rule, r.labels, r.series.origin, r.value, now, changes, r.fingerprint));
      }
    }
    for (const instance of [...(this.instances.get(rule.id)?.values() ?? [])]) {
      if (seen.has(instance.fingerprint) || instance.fingerprint === CARDINALITY_FINGERPRINT) continue;
      if (!this.opts.isReady(instance.origin)) continue;
      this.observe(rule, instance.labels, instance.origin, undefined, now, changes, instance.fingerprint);
    }
    this.settleOverflow(rule, now, changes, true);
  }

  /** The result of a rule that combines series, over the local series or with its combined partial aggregation. */
  private aggregatedElements(rule: EngineRule, now: number): Element[] {
    const combined = rule.partial ? this.combined?.get(rule.id) : undefined;
    const given = combined && rule.partial ? new Map<Expr, Value>([[rule.partial, combined]]) : undefined;
    // The metric series the rule reads are indexed already; the engine applies each selector's matchers to them.
    const indexed = [...(this.ruleSeries.get(rule.id) ?? NO_SERIES)];
    const local: SeriesSource = {
      select: (selector) => (selector.name === EVENTS ? [...this.windows.streams(selector)] : indexed),
    };
    const samples = this.evaluate(rule.expr, local, now, given);
    return samples.map((s) => ({ labels: dropName(s.labels), value: s.value, origin: null }));
  }

  /**
   * Raises (or keeps) the rule's overflow alert when this evaluation refused result series; after a full
   * evaluation that refused none, ends it.
   */
  private settleOverflow(rule: EngineRule, now: number, changes: Changes, full: boolean): void {
    const refused = this.refusals.get(rule.id);
    this.refusals.delete(rule.id);
    if (refused) this.opts.onRefused?.(refused.count);
    const prev = this.instances.get(rule.id)?.get(CARDINALITY_FINGERPRINT);
    if (!refused && (!full || !prev)) return;
    if (full && prev && !this.opts.isReady(prev.origin)) return;
    // A full evaluation after which the held instances and the refused series fit under the cap ends it (the
    // refused ones get their instances at the next evaluation).
    const fits = full && this.held(rule.id) + (refused?.count ?? 0) <= this.maxInstancesPerRule;
    const origin = prev?.origin ?? refused?.origin ?? null;
    const value = fits && prev ? undefined : refused?.count;
    const fingerprint = CARDINALITY_FINGERPRINT;
    const observation = { ruleId: rule.id, fingerprint, labels: CARDINALITY_LABELS, origin, value };
    this.apply(rule, prev, step(prev, observation, now, CARDINALITY_TIMING), changes);
  }

  /** Pending and firing instances of the rule, its overflow alert left out. */
  private held(ruleId: string): number {
    const byRule = this.instances.get(ruleId);
    if (!byRule) return 0;
    return byRule.size - (byRule.has(CARDINALITY_FINGERPRINT) ? 1 : 0);
  }

  /** Steps one instance; returns its fingerprint. */
  private observe(
    rule: EngineRule,
    labels: Labels,
    origin: Origin | null,
    value: number | undefined,
    now: number,
    changes: Changes,
    fingerprint = instanceFingerprint(labels),
  ): string {
    const prev = this.instances.get(rule.id)?.get(fingerprint);
    if (!prev && value === undefined) return fingerprint;
    const overflowing = this.instances.get(rule.id)?.has(CARDINALITY_FINGERPRINT) ?? false;
    const full = overflowing || this.held(rule.id) >= this.maxInstancesPerRule;
    if (!prev && (full || fingerprint === CARDINALITY_FINGERPRINT)) {
      // The rule is full, or over its cap until a full evaluation finds that everything fits (no slot freed by a
      // resolution is refilled meanwhile: no churn while a flood recedes), or the series claims the overflow
      // alert's own labels: no instance, counted instead.
      const refused = this.refusals.get(rule.id);
      if (refused) refused.count++;
      else this.refusals.set(rule.id, { count: 1, origin });
      return fingerprint;
    }
    this.apply(rule, prev, step(prev, { ruleId: rule.id, fingerprint, labels, origin, value }, now, rule), changes);
    return fingerprint;
  }

  private apply(rule: EngineRule, prev: Instance | undefined, result: ReturnType<typeof step>, changes: Changes): void {
    let byRule = this.instances.get(rule.id);
    if (result.next) {
      if (!byRule) this.instances.set(rule.id, (byRule = new Map()));
      byRule.set(result.next.fingerprint, result.next);
      if (result.dirty) changes.ops.push({ kind: 'upsert', instance: result.next });
    } else if (prev) {
      byRule!.delete(prev.fingerprint);
      changes.ops.push({ kind: 'delete', ruleId: rule.id, fingerprint: prev.fingerprint });
    }
    if (result.transition) changes.transitions.push({ ...result.transition, rule: ruleInfo(rule) });
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function pushOnce<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (!list) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

function addTo(figures: GroupFigures, value: number): void {
  figures.sum += value;
  figures.count++;
  if (value < figures.min) figures.min = value;
  if (value > figures.max) figures.max = value;
}

function emptyFigures(): GroupFigures {
  return { sum: 0, count: 0, min: Infinity, max: -Infinity };
}

function aggregateValue(op: Aggregation['op'], f: GroupFigures): number {
  switch (op) {
    case 'avg':
      return f.sum / f.count;
    case 'max':
      return f.max;
    case 'min':
      return f.min;
    case 'count':
      return f.count;
    default:
      return f.sum;
  }
}

export function ruleInfo(rule: EngineRule): RuleInfo {
  return {
    name: rule.name,
    severity: rule.severity,
    query: rule.query,
    description: rule.description,
    labels: rule.labels,
    annotations: rule.annotations,
  };
}
