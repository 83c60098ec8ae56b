/**
 * Turns what the caller handed over into a queued wire item, once, on the caller's turn: redact sensitive keys,
 * validate with exactly the gateway's rules (shared/schemas), stamp an id and a timestamp, serialise.
 *
 * Wire form (the gateway's HTTP body items and the JSON value of direct Kafka records are the same text):
 *   event:  {"id","event_type","source","message","level","tags","payload","timestamp"}
 *   metric: {"id","name","metric_type","value","labels","timestamp"}
 * The id is a UUIDv7 chosen here, so a batch resent after a timeout is stored once (the gateway and the writer
 * deduplicate on (timestamp, id)). The timestamp is epoch milliseconds.
 */
import type { Redactor } from '../shared/redact.ts';
import { DEFAULT_EVENT_LIMITS, validateEvent, type EventType, type Level, type Validated } from '../shared/schemas/event.ts';
import { DEFAULT_METRIC_LIMITS, seriesFingerprint, validateMetric, type MetricType } from '../shared/schemas/metric.ts';
import type { TimeWindow } from '../shared/schemas/validate.ts';

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
  constructor(private readonly redact: Redactor | null, private readonly keyed: boolean) {}

  event(input: EventInput, defaultSource: string): Encoded {
    if (typeof input !== 'object' || input === null) return { ok: false, reason: `an event must be an object, got ${input === null ? 'null' : typeof input}` };
    const now = Date.now();
    const candidate = {
      ...input,
      event_type: input.event_type ?? 'log',
      source: input.source ?? defaultSource,
      tags: this.redact && input.tags ? this.redact(input.tags) : input.tags,
      payload: this.redact && input.payload ? this.redact(input.payload) : input.payload,
      timestamp: toTimestamp(input.timestamp, now),
    };
    const result = serialisable(() => validateEvent(candidate, { window: window(now), limits: DEFAULT_EVENT_LIMITS, createdBy: null }));
    if (!result.ok) return { ok: false, reason: result.errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
    const e = result.value;
    const json =
      `{"id":"${e.id}","event_type":"${e.event_type}","source":${JSON.stringify(e.source)},` +
      `"message":${JSON.stringify(e.message)},"level":${e.level === null ? 'null' : `"${e.level}"`},` +
      `"tags":${e.tags},"payload":${e.payload},"timestamp":${e.timestamp}}`;
    return { ok: true, item: { json, key: this.keyed ? e.source : null, bytes: Buffer.byteLength(json) } };
  }

  metric(input: MetricInput): Encoded {
    const now = Date.now();
    const candidate = {
      ...input,
      labels: this.redact && input.labels ? this.redact(input.labels) : input.labels,
      timestamp: toTimestamp(input.timestamp, now),
    };
    const result = validateMetric(candidate, { window: window(now), limits: DEFAULT_METRIC_LIMITS, createdBy: null });
    if (!result.ok) return { ok: false, reason: result.errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
    const { created_by: _, ...m } = result.value;
    const json = JSON.stringify(m);
    return { ok: true, item: { json, key: this.keyed ? seriesFingerprint(m.name, m.labels) : null, bytes: Buffer.byteLength(json) } };
  }
}

/** JSON.stringify throws on cycles and BigInt: that is an invalid item, not a client failure. */
function serialisable<T>(validate: () => Validated<T>): Validated<T> {
  try {
    return validate();
  } catch (error) {
    return { ok: false, errors: [{ field: 'tags/payload', message: `cannot be serialised as JSON: ${(error as Error).message}` }] };
  }
}

function toTimestamp(value: EventInput['timestamp'], now: number): number | string {
  if (value === undefined) return now;
  return value instanceof Date ? value.getTime() : value;
}

function window(now: number): TimeWindow {
  return { now, retentionDays: WIDE_RETENTION_DAYS, futureGraceSeconds: WIDE_GRACE_SECONDS };
}
