/**
 * Turns a consumed Kafka record into validated rows, or dead-letter reasons. A record carries one item or a bundle
 * of them (shared/kafka/record-items.ts: Avro with header vigil-schema naming the item or bundle schema, current or
 * any under schemas/history/, or JSON: an object or an array); each item passes exactly the validation HTTP input
 * passes. The time window is measured from the record's broker timestamp, so a record that waited in Kafka is
 * judged as it was when it was produced. Like the gateway, it refuses tags/payload nested deeper than
 * INGEST_MAX_DEPTH, redacts the INGEST_REDACT_KEYS deny-list at any depth and applies the configured INGEST_*
 * limits. created_by is the item's field (the gateway writes the token subject there) or, for direct producers,
 * `kafka:<vigil-producer header>` (`kafka:direct` without the header); a system actor there, or a system source
 * (vigil-alerter), is accepted only on the alerter's own records (shared/kafka/record-items.ts creatorOf).
 *
 * Avro events carry tags and payload as JSON text; what redaction leaves unchanged is stored as that text rather
 * than parsed and serialised again (the text is parsed once, to validate and redact it).
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import type { DeadLetterReason } from '../../shared/kafka/dlq.ts';
import { creatorOf } from '../../shared/kafka/record-items.ts';
import { HEADER_SCHEMA } from '../../shared/kafka/topics.ts';
import { JSON_FIELDS, parseEventTexts, validateEvent, type EventLimits, type EventRecord } from '../../shared/schemas/event.ts';
import { validateMetric, type MetricLimits, type MetricRecord } from '../../shared/schemas/metric.ts';
import { isPlainObject, type TimeWindow } from '../../shared/schemas/validate.ts';
import type { FieldError } from '../../shared/errors.ts';
import type { Redactor } from '../../shared/redact.ts';
import { nestsDeeperThan } from '../../shared/schemas/depth.ts';

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: DeadLetterReason; detail: string };

export interface DecodeContext {
  limits: EventLimits;
  retentionDays: number;
  futureGraceSeconds: number;
  maxDepth: number;
  redact: Redactor;
}

export interface MetricDecodeContext {
  limits: MetricLimits;
  retentionDays: number;
  futureGraceSeconds: number;
}

/** One event item of `record` (decoded from its Avro or JSON encoding) → a validated event. */
export function decodeEvent(item: unknown, encoding: 'avro' | 'json', record: ConsumedRecord, ctx: DecodeContext): Decoded<EventRecord> {
  const window = windowOf(record, ctx);
  if (!isPlainObject(item)) return invalidOf(validateEvent(item, { window, limits: ctx.limits, createdBy: null }));
  const { created_by: createdBy, ...input } = item;
  const texts = encoding === 'avro' ? parseEventTexts(input) : {};
  if (texts === null) return { ok: false, reason: 'invalid', detail: 'tags and payload must be JSON object text' };
  for (const field of JSON_FIELDS) {
    if (nestsDeeperThan(input[field], ctx.maxDepth)) return invalid([{ field, message: `must not nest deeper than ${ctx.maxDepth} levels` }]);
    const redacted = ctx.redact(input[field]);
    if (redacted !== input[field]) {
      input[field] = redacted;
      texts[field] = undefined;
    }
  }
  const creator = creatorOf(record, encoding, createdBy);
  if (!creator.ok) return invalid([creator.error]);
  return invalidOf(validateEvent(input, { window, limits: ctx.limits, createdBy: creator.value, texts }));
}

/** One metric item of `record` → a validated sample. */
export function decodeMetric(item: unknown, record: ConsumedRecord, ctx: MetricDecodeContext): Decoded<MetricRecord> {
  const window = windowOf(record, ctx);
  if (!isPlainObject(item)) return invalidOf(validateMetric(item, { window, limits: ctx.limits, createdBy: null }));
  const { created_by: createdBy, ...input } = item;
  const creator = creatorOf(record, record.headers[HEADER_SCHEMA] === undefined ? 'json' : 'avro', createdBy);
  if (!creator.ok) return invalid([creator.error]);
  return invalidOf(validateMetric(input, { window, limits: ctx.limits, createdBy: creator.value }));
}

function windowOf(record: ConsumedRecord, ctx: { retentionDays: number; futureGraceSeconds: number }): TimeWindow {
  return { now: Number(record.timestamp), retentionDays: ctx.retentionDays, futureGraceSeconds: ctx.futureGraceSeconds };
}

function invalidOf<T>(result: { ok: true; value: T } | { ok: false; errors: FieldError[] }): Decoded<T> {
  return result.ok ? result : invalid(result.errors);
}

function invalid(errors: FieldError[]): Decoded<never> {
  return { ok: false, reason: 'invalid', detail: errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
}
