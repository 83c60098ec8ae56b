/**
 * The alerter's in-memory windows: recent samples per metric series and recent event times per (event selector,
 * event stream). Bounded three ways: only metric names and event selectors that some rule reads are kept, samples
 * older than the longest rule range plus the lookback are pruned, and a series keeps at most MAX_POINTS points.
 * Each series and stream remembers the Kafka partition it came from (its owner), so a rebalance drops exactly
 * the windows of the partitions this instance lost.
 */
import type { Matcher, Selector } from './ast.ts';

/** Consumed samples are dropped from the front of the arrays once there are this many (and half are gone). */
const COMPACT_AFTER_SAMPLES = 1024;

export type Labels = Record<string, string>;

export interface Origin {
  topic: string;
  partition: number;
}

/** More points than any sane scrape rate fills in the longest range; beyond it the oldest are dropped. */
export const MAX_POINTS = 100_000;

/** Sorted (time, value) points with a moving head, so pruning the front is O(1) amortised. */
export class Points {
  times: number[] = [];
  values: number[] = [];
  head = 0;

  get size(): number {
    return this.times.length - this.head;
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
    if (this.size > MAX_POINTS) this.head++;
  }

  /** Drops points at or before `t`. */
  pruneThrough(t: number): void {
    while (this.head < this.times.length && this.times[this.head] <= t) this.head++;
    if (this.head > COMPACT_AFTER_SAMPLES && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.values = this.values.slice(this.head);
      this.head = 0;
    }
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

export class MetricSeries {
  readonly points = new Points();
  /** The fingerprint of alert instances that come from this series alone (set by the engine on first use). */
  instanceFingerprint: string | null = null;
  constructor(
    readonly name: string,
    readonly labels: Labels,
    readonly fingerprint: string,
    public origin: Origin | null,
  ) {}
}

export class EventStream {
  readonly points = new Points();
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

  /** Keeps windows only for what these selectors read; windows of selectors still wanted are kept as they are. */
  setSelectors(selectors: readonly Selector[]): void {
    this.wantedNames = new Set(selectors.filter((s) => s.source === 'metric').map((s) => s.name));
    for (const [name, byName] of this.metrics) {
      if (this.wantedNames.has(name)) continue;
      for (const series of byName.values()) this.onRemoveSeries(series);
      this.metrics.delete(name);
    }
    const wantedEvents = new Map(selectors.filter((s) => s.source === 'events').map((s) => [selectorKey(s), s]));
    for (const key of this.events.keys()) if (!wantedEvents.has(key)) this.events.delete(key);
    for (const [key, selector] of wantedEvents)
      if (!this.events.has(key)) this.events.set(key, { matchers: selector.matchers, streams: new Map() });
  }

  /** What the windows keep: metric names and event selector keys. */
  kept(): { names: Set<string>; eventKeys: Set<string> } {
    return { names: new Set(this.wantedNames), eventKeys: new Set(this.events.keys()) };
  }

  /** Adds a sample; returns its series, or null when no rule reads the metric. `key` defaults to seriesKey(labels). */
  addMetric(
    name: string,
    labels: Labels,
    t: number,
    v: number,
    origin: Origin | null,
    key?: string,
  ): MetricSeries | null {
    if (!this.wantedNames.has(name)) return null;
    let byName = this.metrics.get(name);
    if (!byName) this.metrics.set(name, (byName = new Map()));
    const fp = key ?? seriesKey(labels);
    let series = byName.get(fp);
    if (!series) byName.set(fp, (series = new MetricSeries(name, labels, fp, origin)));
    series.origin = origin;
    series.points.add(t, v);
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
      if (!stream) window.streams.set(streamKey, (stream = new EventStream(labels, streamKey, origin)));
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

  streams(selector: Selector): Iterable<EventStream> {
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

/** Identity of an event selector: its matchers in a canonical order (rules with the same matchers share a window). */
export function selectorKey(selector: Selector): string {
  return selector.matchers
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
