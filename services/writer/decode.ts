/**
 * Turns a consumed Kafka record into a validated row, or a dead-letter reason. Records may be Avro (header
 * vigil-schema names the writer schema, current or any under schemas/history/) or JSON (header content-type:
 * application/json, or a value that starts with '{'), and pass exactly the validation HTTP input passes. The time
 * window is measured from the record's broker timestamp, so a record that waited in Kafka is judged as it was when
 * it was produced. Like the gateway, it refuses tags/payload nested deeper than INGEST_MAX_DEPTH, redacts the
 * INGEST_REDACT_KEYS deny-list at any depth and applies the configured INGEST_* limits. created_by is the Avro field (the gateway writes the token subject there) or, for direct
 * producers, `kafka:<vigil-producer header>` (`kafka:direct` without the header).
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import type { DeadLetterReason } from '../../shared/kafka/dlq.ts';
import { HEADER_CONTENT_TYPE, HEADER_PRODUCER, HEADER_SCHEMA } from '../../shared/kafka/topics.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import { validateEvent, type EventLimits, type EventRecord } from '../../shared/schemas/event.ts';
import { validateMetric, type MetricLimits, type MetricRecord } from '../../shared/schemas/metric.ts';
import { isPlainObject, type TimeWindow } from '../../shared/schemas/validate.ts';
import type { FieldError } from '../../shared/errors.ts';
import type { Redactor } from '../../shared/redact.ts';
import { nestsDeeperThan } from '../../shared/schemas/depth.ts';

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: DeadLetterReason; detail: string };

export interface DecodeContext {
  codecs: ReadonlyMap<string, Codec>;
  limits: EventLimits;
  retentionDays: number;
  futureGraceSeconds: number;
  maxDepth: number;
  redact: Redactor;
}

export interface MetricDecodeContext {
  codecs: ReadonlyMap<string, Codec>;
  limits: MetricLimits;
  retentionDays: number;
  futureGraceSeconds: number;
}

export function decodeEvent(record: ConsumedRecord, ctx: DecodeContext): Decoded<EventRecord> {
  const parsed = parseValue(record, ctx.codecs.get('Event')!, true);
  if (!parsed.ok) return parsed;
  const { created_by: createdBy, ...input } = parsed.value;
  for (const field of ['tags', 'payload'] as const) {
    if (nestsDeeperThan(input[field], ctx.maxDepth)) return invalid([{ field, message: `must not nest deeper than ${ctx.maxDepth} levels` }]);
    input[field] = ctx.redact(input[field]);
  }
  const result = validateEvent(input, { window: windowOf(record, ctx), limits: ctx.limits, createdBy: creatorOf(record, createdBy) });
  return result.ok ? result : invalid(result.errors);
}

export function decodeMetric(record: ConsumedRecord, ctx: MetricDecodeContext): Decoded<MetricRecord> {
  const parsed = parseValue(record, ctx.codecs.get('Metric')!, false);
  if (!parsed.ok) return parsed;
  const { created_by: createdBy, ...input } = parsed.value;
  const result = validateMetric(input, { window: windowOf(record, ctx), limits: ctx.limits, createdBy: creatorOf(record, createdBy) });
  return result.ok ? result : invalid(result.errors);
}

function windowOf(record: ConsumedRecord, ctx: { retentionDays: number; futureGraceSeconds: number }): TimeWindow {
  return { now: Number(record.timestamp), retentionDays: ctx.retentionDays, futureGraceSeconds: ctx.futureGraceSeconds };
}

function creatorOf(record: ConsumedRecord, createdBy: unknown): string {
  return typeof createdBy === 'string' ? createdBy : `kafka:${record.headers[HEADER_PRODUCER] ?? 'direct'}`;
}

function invalid(errors: FieldError[]): Decoded<never> {
  return { ok: false, reason: 'invalid', detail: errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
}

/** Avro events carry tags and payload as JSON object text; `jsonFields` parses them back into objects. */
function parseValue(record: ConsumedRecord, codec: Codec, jsonFields: boolean): Decoded<Record<string, unknown>> {
  if (record.value === null || record.value.length === 0) return { ok: false, reason: 'empty_value', detail: 'the record has no value' };
  const schemaId = record.headers[HEADER_SCHEMA];
  if (schemaId !== undefined) {
    let avro: Record<string, unknown>;
    try {
      avro = codec.decode(record.value, schemaId) as Record<string, unknown>;
    } catch (error) {
      const message = (error as Error).message;
      return { ok: false, reason: message.startsWith('unknown schema') ? 'unknown_schema' : 'decode_failed', detail: message };
    }
    if (!jsonFields) return { ok: true, value: avro };
    const tags = parseJsonObject(avro.tags);
    const payload = parseJsonObject(avro.payload);
    if (tags === undefined || payload === undefined) {
      return { ok: false, reason: 'invalid', detail: 'tags and payload must be JSON object text' };
    }
    return { ok: true, value: { ...avro, tags, payload } };
  }
  const contentType = record.headers[HEADER_CONTENT_TYPE];
  const looksJson = record.value[0] === 0x7b; // '{'
  if (contentType?.startsWith('application/json') || (contentType === undefined && looksJson)) {
    try {
      const value: unknown = JSON.parse(record.value.toString('utf8'));
      if (isPlainObject(value)) return { ok: true, value };
      return { ok: false, reason: 'invalid', detail: 'the JSON value must be an object' };
    } catch (error) {
      return { ok: false, reason: 'decode_failed', detail: `malformed JSON: ${(error as Error).message}` };
    }
  }
  return {
    ok: false,
    reason: 'decode_failed',
    detail: `unrecognised encoding: set header ${HEADER_SCHEMA} (Avro) or ${HEADER_CONTENT_TYPE}: application/json`,
  };
}

function parseJsonObject(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
