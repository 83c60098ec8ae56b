/**
 * One ingest request, from parsed body to answer. Response contract (202, after Kafka acknowledged with acks=all):
 *   one object   → { "success": true, "data": <the stored item, with its id and timestamp> }  (invalid → 400)
 *   a batch      → { "success": true, "data": { "accepted", "rejected", "ids": [id | null per item], "errors": [
 *                    { "index", "field", "message" } ] } }   (every item invalid → 400 with the same errors)
 * Valid items of a batch are published even when others are not (partial acceptance); nothing is published when
 * Kafka does not acknowledge in time (503 + Retry-After from the producer).
 */
import { VigilError, validationError, type FieldError } from '../../shared/errors.ts';
import type { BatchingProducer, BundleItem } from '../../shared/kafka/producer.ts';
import { HEADER_PRODUCER, HEADER_SCHEMA } from '../../shared/kafka/topics.ts';
import { isPlainObject } from '../../shared/schemas/validate.ts';
import { RejectedItem, type ParsedBody } from './body.ts';
import type { ItemContext, ItemKind } from './kinds.ts';
import { rejectionReason, type GatewayMetrics } from './metrics.ts';

import { secondsSince } from '../../shared/units.ts';

/** A batch answer names at most this many errors (the counts are always exact): the answer stays small. */
export const MAX_REPORTED_ERRORS = 1000;

export interface IngestRequest {
  body: ParsedBody;
  requestId: string;
  /** The client sent the request id (X-Request-Id) rather than the gateway generating one. */
  requestIdGiven: boolean;
  createdBy: string;
}

export interface IngestAnswer {
  status: 202;
  data: unknown;
}

export interface IngestDeps {
  producer: BatchingProducer;
  metrics: GatewayMetrics;
  maxBatchItems: number;
}

export async function ingest<R>(kind: ItemKind<R>, req: IngestRequest, deps: IngestDeps): Promise<IngestAnswer> {
  const { items, batch } = itemsOf(kind, req.body, deps.maxBatchItems);
  const now = Date.now();
  // A generated id names this HTTP request only: stamped on a batch's items it would make unrelated events (a log
  // shipper's, of many sources) look like one request crossing sources to the incident analysis. So a batch's items
  // get the id only when the client sent it; a single event always gets it.
  const requestId = batch && !req.requestIdGiven ? undefined : req.requestId;
  const accepted: R[] = [];
  const errors: FieldError[] = [];
  const ids: (string | null)[] = new Array(items.length).fill(null);
  let first: R | null = null;
  let rejected = 0;

  // One context for the whole request, its index moved along (check() reads it and keeps nothing of it).
  const ctx: ItemContext = { requestId, createdBy: req.createdBy, now, index: undefined, prepared: undefined };
  ctx.prepared = kind.prepare?.(items, ctx);
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    ctx.index = batch ? index : undefined;
    const result =
      item instanceof RejectedItem
        ? { ok: false as const, errors: [rejection(item, batch ? index : undefined)] }
        : kind.check(item, ctx);
    if (!result.ok) {
      rejected++;
      deps.metrics.items.inc({
        endpoint: kind.endpoint,
        outcome: 'rejected',
        reason: rejectionReason(result.errors[0]),
      });
      for (const error of result.errors) if (errors.length < MAX_REPORTED_ERRORS) errors.push(error);
      continue;
    }
    const record = result.value;
    first ??= record;
    ids[index] = (record as { id: string }).id;
    accepted.push(record);
  }

  if (accepted.length === 0) {
    if (!batch) throw validationError(errors);
    throw validationError(
      errors,
      `all ${items.length} ${kind.noun}s were rejected; details lists each offending field by item index`,
    );
  }
  await publishRecords(kind, accepted, deps);

  if (!batch) return { status: 202, data: kind.toJson(first!) };
  return { status: 202, data: { accepted: accepted.length, rejected, ids, errors } };
}

/**
 * Encodes validated records and publishes them with acks=all (bundled per partition); resolves once
 * Kafka acknowledged, rejects with VIGIL_ERR_KAFKA_UNAVAILABLE (503 + Retry-After) otherwise. Counts them.
 * Shared by every ingest protocol, so all of them reach Kafka the same way.
 */
export async function publishRecords<R>(kind: ItemKind<R>, records: R[], deps: IngestDeps): Promise<void> {
  const headers = { [HEADER_SCHEMA]: kind.bundleCodec.schemaId, [HEADER_PRODUCER]: 'gateway' };
  const into = await kind.router();
  const values = kind.codec.encodeViews(records as object[]);
  const items: BundleItem[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) items[i] = new Routed(into(records[i]), values[i]);
  const started = process.hrtime.bigint();
  try {
    await deps.producer.publish(kind.topic, headers, items);
  } catch (error) {
    deps.metrics.items.inc({ endpoint: kind.endpoint, outcome: 'rejected', reason: 'kafka_unavailable' }, items.length);
    throw error;
  }
  deps.metrics.produceSeconds.observe({ endpoint: kind.endpoint }, secondsSince(started));
  deps.metrics.items.inc({ endpoint: kind.endpoint, outcome: 'accepted', reason: 'none' }, items.length);
}

/**
 * An item on its way to Kafka, made by `new` rather than by an object literal: it lives until the broker
 * acknowledges it, and V8 moves a literal whose objects it finds alive at a young-generation collection to old-space
 * allocation for good (see ValidEvent in shared/schemas/event.ts); a constructor's objects carry no such feedback.
 */
class Routed implements BundleItem {
  constructor(
    readonly into: string | number,
    readonly value: Buffer,
  ) {}
}

function rejection(item: RejectedItem, index: number | undefined): FieldError {
  return index === undefined
    ? { field: item.field, message: item.message }
    : { index, field: item.field, message: item.message };
}

/** Items split by the body reader (a JSON array, a batch object, NDJSON lines), or one JSON value as sent. */
function itemsOf(
  kind: Pick<ItemKind<unknown>, 'batchKey' | 'noun'>,
  body: ParsedBody,
  maxItems: number,
): { items: unknown[]; batch: boolean } {
  let items: unknown[];
  if (body.form === 'items') items = body.items;
  else if (Array.isArray(body.value)) items = body.value;
  else if (isPlainObject(body.value) && Object.hasOwn(body.value, kind.batchKey)) {
    const wrapper = body.value;
    const extra = Object.keys(wrapper).filter((k) => k !== kind.batchKey);
    if (extra.length > 0) {
      throw validationError([
        {
          field: extra[0].slice(0, 60),
          message: `is not allowed next to "${kind.batchKey}" (a batch object has only "${kind.batchKey}")`,
        },
      ]);
    }
    if (!Array.isArray(wrapper[kind.batchKey])) {
      throw validationError([{ field: kind.batchKey, message: `must be an array of ${kind.noun}s` }]);
    }
    items = wrapper[kind.batchKey] as unknown[];
  } else return { items: [body.value], batch: false };

  if (items.length === 0)
    throw validationError([{ field: kind.batchKey, message: `must contain at least one ${kind.noun}` }]);
  if (items.length > maxItems) {
    throw new VigilError(
      'VIGIL_ERR_PAYLOAD_TOO_LARGE',
      `the batch has more than ${maxItems} ${kind.noun}s; at most ${maxItems} are accepted per request: split it`,
    );
  }
  return { items, batch: true };
}
