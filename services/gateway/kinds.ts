/**
 * What differs between the two ingest endpoints: how an item is enriched (request id; redaction by shared/redact.ts
 * of sensitive keys in tags, payload and metric labels — the same deny-list logic as the client SDK — and of secret
 * shapes in event messages), validated, bundled on Kafka and shown back.
 * Bundles: per partition, sent with that explicit partition and no key — events by the partition their source
 * maps to under Kafka's default partitioner (where a record keyed by the source lands: per-source order, and the
 * alerter that keeps the source's state reads it), metric samples by the partition of their series fingerprint
 * (name + sorted labels: the alerter that owns the series reads it). A bundle per partition rather than per source
 * keeps bundles large however many sources a deployment has (a record costs the producer and the writer a fixed
 * amount whatever it carries).
 */
import type { Config } from '../../shared/config.ts';
import type { FieldError } from '../../shared/errors.ts';
import type { PartitionRouter } from '../../shared/kafka/partitioner.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import {
  eventToJson,
  validateEvent,
  type EventRecord,
  JSON_FIELDS,
  type JsonTexts,
  type Validated,
} from '../../shared/schemas/event.ts';
import { createPlainCheck, FLAT, NOT_PLAIN, serialiseFlat } from '../../shared/schemas/plain-json.ts';
import { metricToJson, seriesFingerprint, validateMetric, type MetricRecord } from '../../shared/schemas/metric.ts';
import { createRedactor, redactSecrets } from '../../shared/redact.ts';
import { isPlainObject, type TimeWindow } from '../../shared/schemas/validate.ts';
import { nestsDeeperThan } from '../../shared/schemas/depth.ts';
import type { Endpoint } from './metrics.ts';

export interface ItemContext {
  /** Recorded in an event's tags.request_id when it has none; undefined: record nothing. */
  requestId: string | undefined;
  createdBy: string;
  now: number;
  /** Set for items of a batch: errors then carry the item's index. */
  index?: number;
  /** What the kind's prepare() made of the request's items, by position (check() reads its item's share). */
  prepared?: unknown;
}

export interface ItemKind<R> {
  endpoint: Endpoint;
  /** The key of the batch object: {"events": [...]} or {"metrics": [...]}. */
  batchKey: string;
  noun: string;
  topic: string;
  /** Encodes one item. */
  codec: Codec;
  /** Names the bundles' schema (header vigil-schema). */
  bundleCodec: Codec;
  /** Enriches the (freshly parsed, caller-owned) item in place and validates it. */
  check(item: unknown, ctx: ItemContext): Validated<R>;
  /**
   * Work for all of a request's items at once, before check() is called for each of them, their positions in
   * order (ctx.index, or 0 for a single item); its result goes to ctx.prepared. Optional: check() works without.
   */
  prepare?(items: readonly unknown[], ctx: ItemContext): unknown;
  /** The partition an item's bundle goes to (sent with it explicitly, without a key). */
  router(): Promise<(record: R) => number>;
  toJson(record: R): Record<string, unknown>;
}

export function eventKind(
  config: Config,
  codec: Codec,
  bundleCodec: Codec,
  partitioner: PartitionRouter,
): ItemKind<EventRecord> {
  const { ingest, storage } = config;
  const redact = createRedactor(ingest.redactKeys);
  const window = windowOf(storage.eventRetentionDays, ingest.futureGraceSeconds);
  const plainCheck = createPlainCheck(redact, ingest.maxDepth);
  /**
   * A field nested too deep is refused (and dropped, so that the validator does not serialise it); else redacted.
   * Returns the field's JSON text when it is a plain object that the depth bound and redaction leave as it is:
   * `prepared` (the text prepare() made, or undefined when the field is not such an object); without prepare(),
   * found here by one walk.
   */
  const boundAndRedact = (
    item: Record<string, unknown>,
    field: 'tags' | 'payload',
    ctx: ItemContext,
    refused: FieldError[],
    prepared: string | undefined,
  ): string | undefined => {
    if (prepared !== undefined) return prepared;
    const value = item[field];
    if (ctx.prepared === undefined && isPlainObject(value) && plainCheck(value) !== NOT_PLAIN) {
      return JSON.stringify(value);
    }
    if (nestsDeeperThan(value, ingest.maxDepth)) {
      refused.push(fieldError(ctx, field, `must not nest deeper than ${ingest.maxDepth} levels`));
      item[field] = undefined;
    } else item[field] = redact(value);
    return undefined;
  };
  return {
    endpoint: 'events',
    batchKey: 'events',
    noun: 'event',
    topic: config.kafka.topics.events,
    codec,
    bundleCodec,
    /**
     * Records the request id in each event's tags, then finds the tags and payload that need neither the depth
     * bound nor redaction and serialises them: the flat ones of the whole request in two JSON.stringify calls
     * (plain-json.ts). Returns their texts, tags and payload of item i at 2i and 2i + 1 (undefined: the full path).
     */
    prepare(items, ctx) {
      const texts: (string | undefined)[] = new Array(JSON_FIELDS.length * items.length);
      const flat: Record<string, unknown>[] = [];
      const flatAt: number[] = [];
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        if (!isPlainObject(item)) continue;
        if (ctx.requestId !== undefined) addRequestId(item, ctx.requestId, ingest.eventLimits.maxTags);
        for (let f = 0; f < JSON_FIELDS.length; f++) {
          const value = item[JSON_FIELDS[f]];
          if (!isPlainObject(value)) continue;
          const verdict = plainCheck(value);
          if (verdict === FLAT) {
            flat.push(value);
            flatAt.push(JSON_FIELDS.length * i + f);
          } else if (verdict !== NOT_PLAIN) texts[JSON_FIELDS.length * i + f] = JSON.stringify(value);
        }
      }
      const serialised = serialiseFlat(flat);
      for (let k = 0; k < flatAt.length; k++) texts[flatAt[k]] = serialised[k];
      return texts;
    },
    check(item, ctx) {
      const refused: FieldError[] = [];
      const prepared = ctx.prepared as (string | undefined)[] | undefined;
      let texts: JsonTexts | undefined;
      if (isPlainObject(item)) {
        // prepare() recorded the request id already.
        if (ctx.requestId !== undefined && prepared === undefined) {
          addRequestId(item, ctx.requestId, ingest.eventLimits.maxTags);
        }
        if (ingest.redactSecrets && typeof item.message === 'string') item.message = redactSecrets(item.message);
        const at = JSON_FIELDS.length * (ctx.index ?? 0);
        texts = {
          tags: boundAndRedact(item, 'tags', ctx, refused, prepared?.[at]),
          payload: boundAndRedact(item, 'payload', ctx, refused, prepared?.[at + 1]),
        };
      }
      const result = validateEvent(item, {
        window: window(ctx.now),
        limits: ingest.eventLimits,
        createdBy: ctx.createdBy,
        index: ctx.index,
        texts,
        // Ids of a request's items embed its arrival: the clock is read once per request, not once per item.
        idTime: ctx.now,
      });
      if (refused.length === 0) return result;
      return { ok: false, errors: result.ok ? refused : [...refused, ...result.errors] };
    },
    async router() {
      const partitionOf = await partitioner.router();
      return (record) => partitionOf(record.source);
    },
    toJson: eventToJson,
  };
}

export function metricKind(
  config: Config,
  codec: Codec,
  bundleCodec: Codec,
  partitioner: PartitionRouter,
): ItemKind<MetricRecord> {
  const { ingest, storage } = config;
  const redact = createRedactor(ingest.redactKeys);
  const window = windowOf(storage.metricRetentionDays, ingest.futureGraceSeconds);
  return {
    endpoint: 'metrics',
    batchKey: 'metrics',
    noun: 'metric sample',
    topic: config.kafka.topics.metrics,
    codec,
    bundleCodec,
    check(item, ctx) {
      if (isPlainObject(item)) item.labels = redact(item.labels);
      return validateMetric(item, {
        window: window(ctx.now),
        limits: ingest.metricLimits,
        createdBy: ctx.createdBy,
        index: ctx.index,
      });
    },
    async router() {
      const partitionOf = await partitioner.router();
      return (record) => partitionOf(seriesFingerprint(record.name, record.labels));
    },
    toJson: metricToJson,
  };
}

/**
 * The time window items must fall in at `now`: one object per distinct `now` (a request's items share theirs), not
 * one per item.
 */
function windowOf(retentionDays: number, futureGraceSeconds: number): (now: number) => TimeWindow {
  let last: TimeWindow = { now: Number.NaN, retentionDays, futureGraceSeconds };
  return (now) => {
    if (last.now !== now) last = { now, retentionDays, futureGraceSeconds };
    return last;
  };
}

/**
 * The most structural tokens (`{`, `[`, `,` outside strings) a valid item can hold, plus room for the item's own
 * fields: each costs at least one byte of the serialised tags or payload, so no valid item has more. The body
 * reader parses no item beyond it (body.ts), which bounds JSON.parse's work per item whatever its bytes hold.
 */
export function maxItemValues(config: Config): number {
  const { eventLimits, metricLimits } = config.ingest;
  const event = eventLimits.tagsMaxBytes + eventLimits.payloadMaxBytes;
  return Math.max(event, 2 * metricLimits.maxLabels) + ITEM_FIELD_TOKENS;
}

/** Tokens of an item's own fields and separators (an event has 8 fields). */
const ITEM_FIELD_TOKENS = 64;

/**
 * Records the request id in tags.request_id when the event carries none (the contract's correlation strategy), unless
 * the event already has the most tags allowed: the client's own tags win over ours.
 */
function addRequestId(item: Record<string, unknown>, requestId: string, maxTags: number): void {
  const tags = item.tags;
  if (tags === undefined || tags === null) item.tags = { request_id: requestId };
  else if (isPlainObject(tags) && !Object.hasOwn(tags, 'request_id') && Object.keys(tags).length < maxTags)
    tags.request_id = requestId;
}

function fieldError(ctx: ItemContext, field: string, message: string): FieldError {
  return ctx.index === undefined ? { field, message } : { index: ctx.index, field, message };
}
