/**
 * What the alerter needs from a consumed record: metric samples (name, labels, value, time) or events (type,
 * source, level, tags, time) — one item or a bundle of them, Avro or JSON (shared/kafka/record-items.ts), each
 * validated by the same rules as the writer; an item or record that fails is skipped here (the writer dead-letters
 * it), because alerting must not stall on bad input.
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import { creatorOf, itemsOf, type ItemCodecs } from '../../shared/kafka/record-items.ts';
import { isSealed, type RecordSeal } from '../../shared/kafka/seal.ts';
import { parseEventTexts, validateEvent, type EventLimits } from '../../shared/schemas/event.ts';
import { validateMetric, type MetricLimits, type MetricRecord } from '../../shared/schemas/metric.ts';
import { isPlainObject, type TimeWindow } from '../../shared/schemas/validate.ts';
import type { EventInput } from '../../shared/promql/windows.ts';

export interface DecodeContext {
  metricCodecs: ItemCodecs;
  eventCodecs: ItemCodecs;
  metricLimits: MetricLimits;
  eventLimits: EventLimits;
  eventRetentionDays: number;
  metricRetentionDays: number;
  futureGraceSeconds: number;
  /** KAFKA_SEAL_SECRET's seal (null: none) and the events topic: with a secret, only sealed records are vigil's own. */
  seal: RecordSeal | null;
  eventsTopic: string;
}

export function decodeMetrics(record: ConsumedRecord, ctx: DecodeContext): MetricRecord[] {
  const samples: MetricRecord[] = [];
  const window = windowOf(record, ctx.metricRetentionDays, ctx);
  for (const { input } of inputsOf(record, ctx.metricCodecs)) {
    const result = validateMetric(input, { window, limits: ctx.metricLimits, createdBy: null });
    if (result.ok) samples.push(result.value);
  }
  return samples;
}

export function decodeEvents(record: ConsumedRecord, ctx: DecodeContext): EventInput[] {
  const events: EventInput[] = [];
  const window = windowOf(record, ctx.eventRetentionDays, ctx);
  const sealed = isSealed(ctx.seal, ctx.eventsTopic, record);
  for (const { input, avro, createdBy } of inputsOf(record, ctx.eventCodecs)) {
    const texts = avro ? parseEventTexts(input) : {};
    // Attributed as the writer attributes it, so an event that claims the alerter's source is skipped here too.
    const creator = creatorOf(record, avro ? 'avro' : 'json', createdBy, sealed);
    if (texts === null || !creator.ok) continue;
    const result = validateEvent(input, { window, limits: ctx.eventLimits, createdBy: creator.value, texts });
    if (!result.ok) continue;
    const { event_type, source, level, timestamp } = result.value;
    events.push({ event_type, source, level, tags: isPlainObject(input.tags) ? input.tags : {}, timestamp });
  }
  return events;
}

function windowOf(record: ConsumedRecord, retentionDays: number, ctx: DecodeContext): TimeWindow {
  return { now: Number(record.timestamp), retentionDays, futureGraceSeconds: ctx.futureGraceSeconds };
}

/** The record's items as validator input (a copy without created_by, returned beside it, and id_given). */
function* inputsOf(
  record: ConsumedRecord,
  codecs: ItemCodecs,
): Generator<{ input: Record<string, unknown>; avro: boolean; createdBy: unknown }> {
  const unpacked = itemsOf(record, codecs);
  if (!unpacked.ok) return;
  for (const item of unpacked.items) {
    if (!isPlainObject(item)) continue;
    // A JSON item may not name its creator (the writer dead-letters it): skipped like any invalid item.
    if (unpacked.encoding === 'json' && Object.hasOwn(item, 'created_by')) continue;
    const { created_by: createdBy, id_given: _, ...input } = item;
    yield { input, avro: unpacked.encoding === 'avro', createdBy };
  }
}
