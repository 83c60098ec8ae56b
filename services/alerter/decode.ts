/**
 * What the alerter needs from a consumed record: a metric sample (name, labels, value, time) or an event (type,
 * source, level, tags, time). Avro (header vigil-schema) or JSON, validated by the same rules as the writer; a
 * record that fails is skipped here (the writer dead-letters it), because alerting must not stall on bad input.
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import { HEADER_SCHEMA } from '../../shared/kafka/topics.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import { validateEvent, type EventLimits } from '../../shared/schemas/event.ts';
import { validateMetric, type MetricLimits, type MetricRecord } from '../../shared/schemas/metric.ts';
import { isPlainObject, type TimeWindow } from '../../shared/schemas/validate.ts';
import type { EventInput } from './language/windows.ts';

export interface DecodeContext {
  metricCodec: Codec;
  eventCodec: Codec;
  metricLimits: MetricLimits;
  eventLimits: EventLimits;
  eventRetentionDays: number;
  metricRetentionDays: number;
  futureGraceSeconds: number;
}

export function decodeMetric(record: ConsumedRecord, ctx: DecodeContext): MetricRecord | null {
  const input = parse(record, ctx.metricCodec);
  if (!input) return null;
  delete input.created_by;
  const result = validateMetric(input, { window: windowOf(record, ctx.metricRetentionDays, ctx), limits: ctx.metricLimits, createdBy: null });
  return result.ok ? result.value : null;
}

export function decodeEvent(record: ConsumedRecord, ctx: DecodeContext): EventInput | null {
  const input = parse(record, ctx.eventCodec);
  if (!input) return null;
  delete input.created_by;
  if (typeof input.tags === 'string' || typeof input.payload === 'string') {
    try {
      input.tags = JSON.parse(String(input.tags ?? '{}'));
      input.payload = JSON.parse(String(input.payload ?? '{}'));
    } catch {
      return null;
    }
  }
  const result = validateEvent(input, { window: windowOf(record, ctx.eventRetentionDays, ctx), limits: ctx.eventLimits, createdBy: null });
  if (!result.ok) return null;
  const { event_type, source, level, timestamp } = result.value;
  return { event_type, source, level, tags: isPlainObject(input.tags) ? input.tags : {}, timestamp };
}

function windowOf(record: ConsumedRecord, retentionDays: number, ctx: DecodeContext): TimeWindow {
  return { now: Number(record.timestamp), retentionDays, futureGraceSeconds: ctx.futureGraceSeconds };
}

function parse(record: ConsumedRecord, codec: Codec): Record<string, unknown> | null {
  if (!record.value || record.value.length === 0) return null;
  try {
    const schemaId = record.headers[HEADER_SCHEMA];
    const value: unknown = schemaId !== undefined ? codec.decode(record.value, schemaId) : JSON.parse(record.value.toString('utf8'));
    return isPlainObject(value) ? { ...value } : null;
  } catch {
    return null;
  }
}
