/**
 * Turns a consumed Kafka record into a validated row, or a dead-letter reason. Records may be Avro (header
 * vigil-schema names the writer schema) or JSON (header content-type: application/json, or a value that starts
 * with '{'), and pass exactly the validation HTTP input passes. The time window is measured from the record's
 * broker timestamp, so a record that waited in Kafka is judged as it was when it was produced.
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import { HEADER_CONTENT_TYPE, HEADER_PRODUCER, HEADER_SCHEMA } from '../../shared/kafka/topics.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import { validateEvent, type EventLimits, type EventRecord } from '../../shared/schemas/event.ts';
import { isPlainObject } from '../../shared/schemas/validate.ts';

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string; detail: string };

export interface DecodeContext {
  codecs: ReadonlyMap<string, Codec>;
  limits: EventLimits;
  retentionDays: number;
  futureGraceSeconds: number;
}

export function decodeEvent(record: ConsumedRecord, ctx: DecodeContext): Decoded<EventRecord> {
  const parsed = parseValue(record, ctx.codecs.get('Event')!);
  if (!parsed.ok) return parsed;
  const { created_by: createdBy, ...input } = parsed.value;
  const producer = record.headers[HEADER_PRODUCER];
  const result = validateEvent(input, {
    window: { now: Number(record.timestamp), retentionDays: ctx.retentionDays, futureGraceSeconds: ctx.futureGraceSeconds },
    limits: ctx.limits,
    createdBy: typeof createdBy === 'string' ? createdBy : `kafka:${producer ?? 'direct'}`,
  });
  if (result.ok) return result;
  return { ok: false, reason: 'invalid', detail: result.errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
}

function parseValue(record: ConsumedRecord, codec: Codec): Decoded<Record<string, unknown>> {
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
