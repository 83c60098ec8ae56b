/**
 * Turns what the caller handed over into a queued wire item, once, on the caller's turn: redact sensitive keys,
 * validate with exactly the gateway's rules (shared/schemas), stamp an id and a timestamp, serialise.
 *
 * Wire form (the gateway's HTTP body items and the JSON value of direct Kafka records are the same text):
 *   event:  {"id","event_type","source","message","level","tags","payload","timestamp"}
 *   metric: {"name","metric_type","labels","value","timestamp","id"} (any key order)
 * The id is a UUIDv7 chosen here, so a batch resent after a timeout is stored once (the gateway and the writer
 * deduplicate on (timestamp, id)). The timestamp is epoch milliseconds.
 */
import type { Redactor } from '../shared/redact.ts';
import {
  DEFAULT_EVENT_LIMITS,
  validateEvent,
  type EventType,
  type Level,
  type Validated,
} from '../shared/schemas/event.ts';
import { DEFAULT_METRIC_LIMITS, seriesFingerprint, validateMetric, type MetricType } from '../shared/schemas/metric.ts';
import type { TimeWindow } from '../shared/schemas/validate.ts';
import { IdGenerator } from '../shared/schemas/uuid7.ts';

export interface QueuedItem {
  /** The item as JSON text. */
  json: string;
  /** Kafka key (source, or series fingerprint); only computed for the Kafka transport. */
  key: string | null;
  bytes: number;
}

export interface EventInput {
  /** Default `log`. */
  event_type?: EventType;
  /** Default: the client's (or the logger's) source. */
  source?: string;
  message?: string | null;
  level?: Level | null;
  tags?: Record<string, unknown>;
  payload?: Record<string, unknown>;
  /** Default: now. */
  timestamp?: number | string | Date;
  /** A UUID; default: a fresh UUIDv7. */
  id?: string;
}

export interface MetricInput {
  name: string;
  metric_type: MetricType;
  value: number;
  labels?: Record<string, string>;
  timestamp?: number | string | Date;
  id?: string;
}

export type Encoded = { ok: true; item: QueuedItem } | { ok: false; reason: string };

// The gateway judges timestamps against its own retention and grace; here only the shape is checked, so the window
// is wide. Items the gateway then refuses are reported per item and counted as rejected.
const WIDE_RETENTION_DAYS = 36_500;
const WIDE_GRACE_SECONDS = 86_400;

export class Encoder {
  private readonly ids = new IdGenerator();
  private readonly series = new Map<string, PreparedSeries>();

  constructor(
    private readonly redact: Redactor | null,
    private readonly keyed: boolean,
  ) {}

  event(input: EventInput, defaultSource: string): Encoded {
    if (typeof input !== 'object' || input === null)
      return { ok: false, reason: `an event must be an object, got ${input === null ? 'null' : typeof input}` };
    const now = Date.now();
    const candidate = {
      ...input,
      id: input.id ?? this.ids.next(now),
      event_type: input.event_type ?? 'log',
      source: input.source ?? defaultSource,
      tags: this.redact && input.tags ? this.redact(input.tags) : input.tags,
      payload: this.redact && input.payload ? this.redact(input.payload) : input.payload,
      timestamp: toTimestamp(input.timestamp, now),
    };
    const result = serialisable(() =>
      validateEvent(candidate, { window: window(now), limits: DEFAULT_EVENT_LIMITS, createdBy: null }),
    );
    if (!result.ok) return { ok: false, reason: result.errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
    const e = result.value;
    const json =
      `{"id":"${e.id}","event_type":"${e.event_type}","source":${JSON.stringify(e.source)},` +
      `"message":${JSON.stringify(e.message)},"level":${e.level === null ? 'null' : `"${e.level}"`},` +
      `"tags":${e.tags},"payload":${e.payload},"timestamp":${e.timestamp}}`;
    return { ok: true, item: { json, key: this.keyed ? e.source : null, bytes: Buffer.byteLength(json) } };
  }

  /**
   * A metric sample. The first sample of a series (name, type, labels) is validated in full and its invariant part
   * serialised once (prepare); later samples of the series only check their value: the plugin emits two samples
   * per request of the instrumented service, and re-validating identical labels each time was most of its cost.
   */
  metric(input: MetricInput): Encoded {
    if (input.timestamp !== undefined || input.id !== undefined) return this.metricInFull(input);
    const key = seriesCacheKey(input);
    let series = key === null ? undefined : this.series.get(key);
    if (series === undefined) {
      const prepared = this.prepare(input.name, input.metric_type, input.labels ?? {});
      if (!prepared.ok) return prepared;
      series = prepared.series;
      if (key !== null) this.remember(key, series);
    }
    return this.sample(series, input.value);
  }

  /** Validates a series once (name, type, labels, with the gateway's rules) for sample() to use many times. */
  prepare(name: string, metricType: MetricType, labels: Record<string, string>): Prepared {
    const now = Date.now();
    const probe = {
      name,
      metric_type: metricType,
      value: 0,
      labels: this.redact ? this.redact(labels) : labels,
      timestamp: now,
      id: this.ids.next(now),
    };
    const result = validateMetric(probe, { window: window(now), limits: DEFAULT_METRIC_LIMITS, createdBy: null });
    if (!result.ok) return { ok: false, reason: result.errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
    const m = result.value;
    const head =
      `{"name":${JSON.stringify(m.name)},"metric_type":"${m.metric_type}","labels":` + `${JSON.stringify(m.labels)},`;
    return {
      ok: true,
      series: {
        head,
        headBytes: Buffer.byteLength(head),
        counter: m.metric_type === 'counter',
        kafkaKey: this.keyed ? seriesFingerprint(m.name, m.labels) : null,
      },
    };
  }

  /** One sample of a prepared series, timestamped now. */
  sample(series: PreparedSeries, value: unknown): Encoded {
    if (typeof value !== 'number' || !Number.isFinite(value) || (value < 0 && series.counter)) {
      return {
        ok: false,
        reason: `value: must be a finite number${series.counter ? ' ≥ 0 for a counter' : ''}, got ${String(value)}`,
      };
    }
    const now = Date.now();
    const tail = `"value":${value},"timestamp":${now},"id":"${this.ids.next(now)}"}`;
    return {
      ok: true,
      item: { json: series.head + tail, key: series.kafkaKey, bytes: series.headBytes + tail.length },
    };
  }

  /** A sample with its own timestamp or id: validated and serialised on its own. */
  private metricInFull(input: MetricInput): Encoded {
    if (typeof input !== 'object' || input === null) return { ok: false, reason: 'a metric sample must be an object' };
    const now = Date.now();
    const candidate = {
      ...input,
      id: input.id ?? this.ids.next(now),
      labels: this.redact && input.labels ? this.redact(input.labels) : input.labels,
      timestamp: toTimestamp(input.timestamp, now),
    };
    const result = validateMetric(candidate, { window: window(now), limits: DEFAULT_METRIC_LIMITS, createdBy: null });
    if (!result.ok) return { ok: false, reason: result.errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
    const { created_by: _, ...m } = result.value;
    const json = JSON.stringify(m);
    return {
      ok: true,
      item: { json, key: this.keyed ? seriesFingerprint(m.name, m.labels) : null, bytes: Buffer.byteLength(json) },
    };
  }

  private remember(key: string, series: PreparedSeries): void {
    if (this.series.size >= SERIES_CACHE_MAX) this.series.clear();
    this.series.set(key, series);
  }
}

/** A validated series: its invariant JSON (`{"name":…,"metric_type":…,"labels":{…},`) and Kafka key. */
export interface PreparedSeries {
  head: string;
  headBytes: number;
  counter: boolean;
  kafkaKey: string | null;
}

export type Prepared = { ok: true; series: PreparedSeries } | { ok: false; reason: string };

/** Series seen recently, at most; a label with unbounded values only makes the cache useless, never large. */
const SERIES_CACHE_MAX = 10_000;

/**
 * Name, type and labels in the caller's key order (the same series in another key order is merely cached twice);
 * null when anything is not a string, so that a sample that would fail validation never hits a cached valid one.
 */
function seriesCacheKey(input: MetricInput): string | null {
  if (typeof input.name !== 'string') return null;
  let key = `${input.name}\u0000${input.metric_type}`;
  const labels = input.labels;
  if (labels === undefined || labels === null) return key;
  if (typeof labels !== 'object' || Array.isArray(labels)) return null;
  for (const name in labels) {
    const value = labels[name];
    if (typeof value !== 'string') return null;
    key += `\u0000${name}\u0001${value}`;
  }
  return key;
}

/** JSON.stringify throws on cycles and BigInt: that is an invalid item, not a client failure. */
function serialisable<T>(validate: () => Validated<T>): Validated<T> {
  try {
    return validate();
  } catch (error) {
    return {
      ok: false,
      errors: [{ field: 'tags/payload', message: `cannot be serialised as JSON: ${(error as Error).message}` }],
    };
  }
}

function toTimestamp(value: EventInput['timestamp'], now: number): number | string {
  if (value === undefined) return now;
  return value instanceof Date ? value.getTime() : value;
}

function window(now: number): TimeWindow {
  return { now, retentionDays: WIDE_RETENTION_DAYS, futureGraceSeconds: WIDE_GRACE_SECONDS };
}
