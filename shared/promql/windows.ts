/**
 * The alerter's in-memory windows, which PromQL reads as its stored series (engine.ts StoredSeries): recent points
 * per Prometheus series and recent event counts per (event selector, event stream). A stored sample becomes the
 * series series-model.ts says (a counter's increments a running total, a histogram's observations _bucket, _count
 * and _sum), exactly as the query API presents the metrics table. Bounded three ways: only metric names and event
 * selectors that some rule reads are kept, points older than the longest rule reach plus the lookback are pruned,
 * and a series keeps at most MAX_POINTS points. Each series and stream remembers the Kafka partition it came from
 * (its owner), so a rebalance drops exactly the windows of the partitions this instance lost.
 *
 * A running total starts at the first sample the windows hold (they are rebuilt from Kafka over the retention):
 * differences — rate, increase, resets — are those of the stored series; the absolute level is not the all-time
 * total the query API reads from PostgreSQL.
 */
import type { MetricType } from '../schemas/metric.ts';
import type { Matcher, VectorSelector } from './expr.ts';
import { presentationsOf, type Presented } from './series-model.ts';

/** Consumed samples are dropped from the front of the arrays once there are this many (and half are gone). */
const COMPACT_AFTER_SAMPLES = 1024;

export type Labels = Record<string, string>;

export interface Origin {
  topic: string;
  partition: number;
}

/** More points than any sane scrape rate fills in the longest range; beyond it the oldest are dropped. */
export const MAX_POINTS = 100_000;
/** The metric name rules select events by; events are not metrics, and the query API has no series of this name. */
export const EVENTS = 'events';
const NAME = '__name__';
/** Stored (name, type) pairs whose presentations are remembered; beyond it the memo starts afresh. */
const MAX_PRESENTATIONS = 10_000;

/** Sorted (time, value) points with a moving head, so pruning the front is O(1) amortised. */
export class Points {
  times: number[] = [];
  values: number[] = [];
  head = 0;
  /** A running series: the total of the points dropped from the front (what the next point builds on). */
  private floor = 0;

  get size(): number {
    return this.times.length - this.head;
  }

  /**
   * Points holding `times` and `values` as adding them one by one would: taken as they are when the times increase
   * strictly (a loaded series, read and never added to: several may share one `times`), else by add.
   */
  static of(times: number[], values: number[]): Points {
    const points = new Points();
    for (let i = 1; i < times.length; i++) {
      if (times[i] > times[i - 1]) continue;
      for (let j = 0; j < times.length; j++) points.add(times[j], values[j]);
      return points;
    }
    points.times = times;
    points.values = values;
    while (points.size > MAX_POINTS) points.advance();
    return points;
  }

  /** Adds a sample; a second sample at the same instant replaces the first (`accumulate`: adds to it). */
  add(t: number, v: number, accumulate = false): void {
    const n = this.times.length;
    if (n === this.head || t > this.times[n - 1]) {
      this.times.push(t);
      this.values.push(v);
    } else {
      const i = this.upperBound(t);
      if (i > this.head && this.times[i - 1] === t) this.values[i - 1] = accumulate ? this.values[i - 1] + v : v;
      else {
        this.times.splice(i, 0, t);
        this.values.splice(i, 0, v);
      }
    }
    if (this.size > MAX_POINTS) this.advance();
  }

  /**
   * Adds `step` to a running total at `t`: the point at `t` (made from the point before it, or added to) and every
   * later point grow by it, so a sample that arrives late counts where it belongs.
   */
  addRunning(t: number, step: number): void {
    const n = this.times.length;
    if (n === this.head || t > this.times[n - 1]) {
      this.times.push(t);
      this.values.push((n === this.head ? this.floor : this.values[n - 1]) + step);
    } else {
      let i = this.upperBound(t);
      if (i > this.head && this.times[i - 1] === t) this.values[i - 1] += step;
      else {
        this.times.splice(i, 0, t);
        this.values.splice(i, 0, (i > this.head ? this.values[i - 1] : this.floor) + step);
        i++;
      }
      for (let j = i; j < this.times.length; j++) this.values[j] += step;
    }
    if (this.size > MAX_POINTS) this.advance();
  }

  /** Drops points at or before `t`. */
  pruneThrough(t: number): void {
    while (this.head < this.times.length && this.times[this.head] <= t) this.advance();
    if (this.head > COMPACT_AFTER_SAMPLES && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.values = this.values.slice(this.head);
      this.head = 0;
    }
  }

  private advance(): void {
    this.floor = this.values[this.head];
    this.head++;
  }

  /** Index of the first point after `t`. */
  upperBound(t: number): number {
    let lo = this.head;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.times[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** One Prometheus series of the windows; its labels hold the metric name as __name__ (a StoredSeries). */
export class MetricSeries {
  readonly points = new Points();
  /** The fingerprint of alert instances that come from this series alone (set by the engine on first use). */
  instanceFingerprint: string | null = null;
  constructor(
    readonly name: string,
    readonly labels: Labels,
    readonly fingerprint: string,
    public origin: Origin | null,
    readonly running: boolean,
  ) {}
}

/** The events of one (event_type, source, level) that one event selector matched: a count per instant. */
export class EventStream {
  readonly points = new Points();
  /** The windows applied the selector's matchers (tags included, which the stream's labels do not hold). */
  readonly matched = true;
  /** Each point counts the events at its instant: count_over_time sums them (engine.ts). */
  readonly counts = true;
  /** The fingerprint of alert instances that come from this stream alone (set by the engine on first use). */
  instanceFingerprint: string | null = null;
  constructor(
    readonly labels: Labels,
    readonly key: string,
    public origin: Origin | null,
  ) {}
}

export interface EventInput {
  event_type: string;
  source: string;
  level: string | null;
  tags: Record<string, unknown>;
  timestamp: number;
}

interface EventWindow {
  matchers: Matcher[];
  streams: Map<string, EventStream>;
}

export class WindowStore {
  /** Told about every metric series the store forgets (pruned empty, or its partition lost). */
  onRemoveSeries: (series: MetricSeries) => void = () => {};
  private readonly metrics = new Map<string, Map<string, MetricSeries>>();
  private readonly events = new Map<string, EventWindow>();
  private wantedNames = new Set<string>();
  /** Per stored (name, type): what its samples feed (series-model.ts), computed once. */
  private readonly presentations = new Map<string, Presented[]>();

  /** Keeps windows only for what these selectors read; windows of selectors still wanted are kept as they are. */
  setSelectors(selectors: readonly VectorSelector[]): void {
    this.wantedNames = new Set(selectors.filter((s) => s.name !== EVENTS).map((s) => s.name!));
    for (const [name, byName] of this.metrics) {
      if (this.wantedNames.has(name)) continue;
      for (const series of byName.values()) this.onRemoveSeries(series);
      this.metrics.delete(name);
    }
    const wantedEvents = new Map(selectors.filter((s) => s.name === EVENTS).map((s) => [selectorKey(s), s]));
    for (const key of this.events.keys()) if (!wantedEvents.has(key)) this.events.delete(key);
    for (const [key, selector] of wantedEvents) {
      if (!this.events.has(key)) this.events.set(key, { matchers: eventMatchers(selector), streams: new Map() });
    }
  }

  /** What the windows keep: metric names and event selector keys. */
  kept(): { names: Set<string>; eventKeys: Set<string> } {
    return { names: new Set(this.wantedNames), eventKeys: new Set(this.events.keys()) };
  }

  /** Adds a stored sample to the series it feeds that some rule reads; returns them. */
  addMetric(
    name: string,
    type: MetricType,
    labels: Labels,
    t: number,
    v: number,
    origin: Origin | null,
  ): MetricSeries[] {
    const out: MetricSeries[] = [];
    for (const p of this.presentationsOf(name, type)) {
      if (!this.wantedNames.has(p.metric)) continue;
      if (p.extra.le !== undefined && labels.le !== undefined) continue; // as the query API: such buckets are left out
      const series = this.seriesFor(p, labels, origin);
      if (p.running) series.points.addRunning(t, p.step(v));
      else series.points.add(t, v);
      out.push(series);
    }
    return out;
  }

  private presentationsOf(name: string, type: MetricType): Presented[] {
    const key = `${type}\u0000${name}`;
    let found = this.presentations.get(key);
    if (!found) {
      found = presentationsOf(name, type);
      if (this.presentations.size >= MAX_PRESENTATIONS) this.presentations.clear();
      this.presentations.set(key, found);
    }
    return found;
  }

  private seriesFor(p: Presented, labels: Labels, origin: Origin | null): MetricSeries {
    let byName = this.metrics.get(p.metric);
    if (!byName) this.metrics.set(p.metric, (byName = new Map()));
    const all = { ...labels, ...p.extra };
    // A gauge and a counter of the same name and labels are two series, as in the query API.
    const fp = `${p.running ? 'r' : 'v'}${seriesKey(all)}`;
    let series = byName.get(fp);
    if (!series) {
      series = new MetricSeries(p.metric, { ...all, [NAME]: p.metric }, fp, origin, p.running);
      byName.set(fp, series);
    }
    series.origin = origin;
    return series;
  }

  /** Adds an event to the window of every selector it matches; returns the (selector key, stream) pairs it touched. */
  addEvent(event: EventInput, origin: Origin | null): [string, EventStream][] {
    const touched: [string, EventStream][] = [];
    for (const [key, window] of this.events) {
      if (!window.matchers.every((m) => matches(m, eventField(event, m.label)))) continue;
      const labels = { event_type: event.event_type, source: event.source, level: event.level ?? '' };
      const streamKey = `${labels.event_type}\u0000${labels.source}\u0000${labels.level}`;
      let stream = window.streams.get(streamKey);
      if (!stream) {
        stream = new EventStream({ [NAME]: EVENTS, ...labels }, streamKey, origin);
        window.streams.set(streamKey, stream);
      }
      stream.origin = origin;
      stream.points.add(event.timestamp, 1, true); // events in the same millisecond are counted, not merged
      touched.push([key, stream]);
    }
    return touched;
  }

  *allSeries(): Iterable<MetricSeries> {
    for (const byName of this.metrics.values()) yield* byName.values();
  }

  series(name: string): Iterable<MetricSeries> {
    return this.metrics.get(name)?.values() ?? [];
  }

  streams(selector: VectorSelector): Iterable<EventStream> {
    return this.events.get(selectorKey(selector))?.streams.values() ?? [];
  }

  /** Drops points at or before `t`, and series and streams left empty. */
  pruneThrough(t: number): void {
    for (const byName of this.metrics.values()) {
      for (const [fp, series] of byName) {
        series.points.pruneThrough(t);
        if (series.points.size === 0) {
          byName.delete(fp);
          this.onRemoveSeries(series);
        }
      }
    }
    for (const window of this.events.values()) {
      for (const [key, stream] of window.streams) {
        stream.points.pruneThrough(t);
        if (stream.points.size === 0) window.streams.delete(key);
      }
    }
  }

  /** Drops the windows whose origin `lost` says this instance no longer owns. */
  dropWhere(lost: (origin: Origin | null) => boolean): void {
    for (const byName of this.metrics.values()) {
      for (const [fp, s] of byName) {
        if (!lost(s.origin)) continue;
        byName.delete(fp);
        this.onRemoveSeries(s);
      }
    }
    for (const window of this.events.values())
      for (const [key, s] of window.streams) if (lost(s.origin)) window.streams.delete(key);
  }

  get seriesCount(): number {
    let n = 0;
    for (const byName of this.metrics.values()) n += byName.size;
    for (const window of this.events.values()) n += window.streams.size;
    return n;
  }
}

/**
 * Identity of a series within its metric name: the sorted label pairs. Cheaper than a hash (a sample arrives for
 * every series every scrape), and exact.
 */
export function seriesKey(labels: Labels): string {
  const names = Object.keys(labels);
  if (names.length === 1) return `${names[0]}\u0001${labels[names[0]]}`;
  names.sort();
  let key = '';
  for (const name of names) key += `${name}\u0001${labels[name]}\u0002`;
  return key;
}

/** The matchers of an event selector on the event's fields and tags (its name's own matcher left out). */
function eventMatchers(selector: VectorSelector): Matcher[] {
  return selector.matchers.filter((m) => m.label !== NAME);
}

/** Identity of an event selector: its matchers in a canonical order (rules with the same matchers share a window). */
export function selectorKey(selector: VectorSelector): string {
  return eventMatchers(selector)
    .map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`)
    .sort()
    .join(',');
}

/** PromQL semantics: a missing label matches as the empty string. */
export function matches(matcher: Matcher, value: string | undefined): boolean {
  const text = value ?? '';
  switch (matcher.op) {
    case '=':
      return text === matcher.value;
    case '!=':
      return text !== matcher.value;
    case '=~':
      return matcher.regex!.test(text);
    case '!~':
      return !matcher.regex!.test(text);
  }
}

/** event_type, source and level are the event's fields; any other label is a tag (non-strings as JSON text). */
function eventField(event: EventInput, label: string): string | undefined {
  if (label === 'event_type') return event.event_type;
  if (label === 'source') return event.source;
  if (label === 'level') return event.level ?? undefined;
  const tag = event.tags[label];
  if (tag === undefined || tag === null) return undefined;
  return typeof tag === 'string' ? tag : JSON.stringify(tag);
}
