/**
 * Turns a consumed Kafka record into validated rows, or dead-letter reasons. A record carries one item or a bundle
 * of them (shared/kafka/record-items.ts: Avro with header vigil-schema naming the item or bundle schema, current or
 * any under schemas/history/, or JSON: an object or an array); each item passes exactly the validation HTTP input
 * passes. The time window is measured from the record's broker timestamp, so a record that waited in Kafka is
 * judged as it was when it was produced. Like the gateway, it refuses tags/payload nested deeper than
 * INGEST_MAX_DEPTH, redacts the INGEST_REDACT_KEYS deny-list at any depth of tags and payload and in metric labels,
 * secret shapes in messages (INGEST_REDACT_SECRETS), and applies the configured INGEST_* limits. created_by of a
 * direct record is `kafka:<vigil-producer header>` (`kafka:direct` without the header), whatever its items say:
 * only vigil's own producers (header `gateway`: the token's subject; `alerter`) have the created_by field of their
 * Avro items stored, and a system actor only on the alerter's (shared/kafka/record-items.ts creatorOf); with
 * KAFKA_SEAL_SECRET set, only when the record's seal verifies (`sealed`; null: no secret). A JSON item
 * carrying `created_by` is invalid, as it is over HTTP.
 *
 * Avro events carry tags and payload as JSON text, stored as that text when nothing changes it: a scan
 * (shared/schemas/json-text.ts) lets plain text through without building its objects; other text is parsed,
 * bounded and redacted, and stored as received when redaction changed nothing.
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import type { DeadLetterReason } from '../../shared/kafka/dlq.ts';
import { creatorOf } from '../../shared/kafka/record-items.ts';
import {
  JSON_FIELDS,
  parseEventTexts,
  validateEvent,
  type EventLimits,
  type EventRecord,
  type JsonKeyCounts,
} from '../../shared/schemas/event.ts';
import type { JsonTextScan } from '../../shared/schemas/json-text.ts';
import { validateMetric, type MetricLimits, type MetricRecord } from '../../shared/schemas/metric.ts';
import { isPlainObject, type TimeWindow } from '../../shared/schemas/validate.ts';
import type { FieldError } from '../../shared/errors.ts';
import { redactSecrets, type Redactor } from '../../shared/redact.ts';
import { nestsDeeperThan } from '../../shared/schemas/depth.ts';

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: DeadLetterReason; detail: string };

export interface DecodeContext {
  limits: EventLimits;
  retentionDays: number;
  futureGraceSeconds: number;
  maxDepth: number;
  redact: Redactor;
  redactSecrets: boolean;
  /** createJsonTextScan(redact, maxDepth): tags and payload text it finds plain are stored without parsing them. */
  scan: JsonTextScan;
}

export interface MetricDecodeContext {
  limits: MetricLimits;
  retentionDays: number;
  futureGraceSeconds: number;
  redact: Redactor;
}

/** One event item of `record` (decoded from its Avro or JSON encoding) → a validated event. */
export function decodeEvent(
  item: unknown,
  encoding: 'avro' | 'json',
  record: ConsumedRecord,
  ctx: DecodeContext,
  sealed: boolean | null = null,
): Decoded<EventRecord> {
  const window = windowOf(record, ctx);
  if (!isPlainObject(item)) return invalidOf(validateEvent(item, { window, limits: ctx.limits, createdBy: null }));
  if (encoding === 'json' && Object.hasOwn(item, 'created_by')) return invalid([CREATED_BY_REFUSED]);
  const { created_by: createdBy, id_given: idGiven } = item;
  const input = encoding === 'avro' ? avroEventInput(item) : jsonInput(item);
  if (ctx.redactSecrets && typeof input.message === 'string') input.message = redactSecrets(input.message);
  const keys: JsonKeyCounts = {};
  const texts =
    encoding === 'avro' ? parseEventTexts(input, { scan: ctx.scan, keys, maxTags: ctx.limits.maxTags }) : {};
  if (texts === null) return { ok: false, reason: 'invalid', detail: 'tags and payload must be JSON object text' };
  for (const field of JSON_FIELDS) {
    if (keys[field] !== undefined) continue; // plain text: within the depth bound, nothing to redact
    if (nestsDeeperThan(input[field], ctx.maxDepth))
      return invalid([{ field, message: `must not nest deeper than ${ctx.maxDepth} levels` }]);
    const redacted = ctx.redact(input[field]);
    if (redacted !== input[field]) {
      input[field] = redacted;
      texts[field] = undefined;
    }
  }
  const creator = creatorOf(record, encoding, createdBy, sealed);
  if (!creator.ok) return invalid([creator.error]);
  return givenOf(
    invalidOf(validateEvent(input, { window, limits: ctx.limits, createdBy: creator.value, texts, keys })),
    idGiven,
  );
}

/** One metric item of `record` (decoded from its Avro or JSON encoding) → a validated sample. */
export function decodeMetric(
  item: unknown,
  encoding: 'avro' | 'json',
  record: ConsumedRecord,
  ctx: MetricDecodeContext,
  sealed: boolean | null = null,
): Decoded<MetricRecord> {
  const window = windowOf(record, ctx);
  if (!isPlainObject(item)) return invalidOf(validateMetric(item, { window, limits: ctx.limits, createdBy: null }));
  if (encoding === 'json' && Object.hasOwn(item, 'created_by')) return invalid([CREATED_BY_REFUSED]);
  const { created_by: createdBy, id_given: idGiven } = item;
  const input = encoding === 'avro' ? avroMetricInput(item) : jsonInput(item);
  input.labels = ctx.redact(input.labels);
  const creator = creatorOf(record, encoding, createdBy, sealed);
  if (!creator.ok) return invalid([creator.error]);
  return givenOf(invalidOf(validateMetric(input, { window, limits: ctx.limits, createdBy: creator.value })), idGiven);
}

/**
 * The validator's input from an Avro event item. A decoded Avro item has exactly its (reader) schema's fields, so
 * the input is made field by field: copying it with a rest pattern enumerated its keys, a measurable part of the
 * writer's per-row work.
 */
function avroEventInput(item: Record<string, unknown>): Record<string, unknown> {
  return {
    id: item.id,
    event_type: item.event_type,
    source: item.source,
    message: item.message,
    level: item.level,
    tags: item.tags,
    payload: item.payload,
    timestamp: item.timestamp,
  };
}

/** The validator's input from an Avro metric item (as avroEventInput). */
function avroMetricInput(item: Record<string, unknown>): Record<string, unknown> {
  return {
    id: item.id,
    name: item.name,
    metric_type: item.metric_type,
    value: item.value,
    labels: item.labels,
    timestamp: item.timestamp,
  };
}

/** A JSON item without the two fields the writer decides itself (any other key is the validator's to judge). */
function jsonInput(item: Record<string, unknown>): Record<string, unknown> {
  const { created_by: _createdBy, id_given: _idGiven, ...input } = item;
  return input;
}

/**
 * Avro items say whether the producer chose the id (the gateway writes false for the ids it generates; a direct
 * producer's, or a record written before the field existed, defaults to true). A JSON item chose its id when it
 * has one.
 */
function givenOf<T extends { id_given: boolean }>(decoded: Decoded<T>, idGiven: unknown): Decoded<T> {
  if (decoded.ok && typeof idGiven === 'boolean') decoded.value.id_given = idGiven;
  return decoded;
}

/** The items of a record share its window: the last one made is kept (records are decoded one at a time). */
let lastWindow: { record: ConsumedRecord | null; ctx: object | null; window: TimeWindow | null } = {
  record: null,
  ctx: null,
  window: null,
};

function windowOf(record: ConsumedRecord, ctx: { retentionDays: number; futureGraceSeconds: number }): TimeWindow {
  if (lastWindow.record === record && lastWindow.ctx === ctx) return lastWindow.window!;
  const window = {
    now: Number(record.timestamp),
    retentionDays: ctx.retentionDays,
    futureGraceSeconds: ctx.futureGraceSeconds,
  };
  lastWindow = { record, ctx, window };
  return window;
}

const CREATED_BY_REFUSED: FieldError = {
  field: 'created_by',
  message: 'is not accepted on a record: it is set to kafka:<vigil-producer header> (send that header instead)',
};

function invalidOf<T>(result: { ok: true; value: T } | { ok: false; errors: FieldError[] }): Decoded<T> {
  return result.ok ? result : invalid(result.errors);
}

function invalid(errors: FieldError[]): Decoded<never> {
  return { ok: false, reason: 'invalid', detail: errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
}
