/**
 * The items a consumed record of the events or metrics topic carries, in every encoding the Kafka contract allows
 * (README "Kafka contract for direct producers"):
 *   Avro item     header vigil-schema names Event / Metric (current or any version under schemas/history/)
 *   Avro bundle   header vigil-schema names EventBundle / MetricBundle: the items of its array (the gateway's form)
 *   JSON item     header content-type: application/json (or no header and a value starting with '{')
 *   JSON bundle   the same header (or none and a value starting with '['): a JSON array of items, for kcat users
 * Shared by the writer (which stores the items and dead-letters what fails) and the alerter (which skips it).
 * A record that cannot be decoded as a whole fails as a whole; its items are judged one by one by the caller.
 */
import type { Codec } from '../schemas/avro.ts';
import { announcedItems } from '../schemas/avro.ts';
import { isPlainObject } from '../schemas/validate.ts';
import type { ConsumedRecord } from './consumer.ts';
import type { DeadLetterReason } from './dlq.ts';
import { DIRECT_PRODUCER_PREFIX, isSystemActor } from '../auth/identity.ts';
import type { FieldError } from '../errors.ts';
import { HEADER_CONTENT_TYPE, HEADER_PRODUCER, HEADER_SCHEMA, PRODUCER_ALERTER, PRODUCER_GATEWAY } from './topics.ts';

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
/** Bytes per item assumed when a record's size is all there is to count its items by. */
const AVRO_ITEM_BYTES_ESTIMATE = 1024;
const JSON_ITEM_BYTES_ESTIMATE = 64;

export interface ItemCodecs {
  item: Codec;
  bundle: Codec;
}

export type RecordItems =
  | { ok: true; items: unknown[]; encoding: 'avro' | 'json'; bundle: boolean }
  | { ok: false; reason: DeadLetterReason; detail: string };

const JSON_TYPE = 'application/json';

export function itemsOf(record: ConsumedRecord, codecs: ItemCodecs): RecordItems {
  const value = record.value;
  if (value === null || value.length === 0)
    return { ok: false, reason: 'empty_value', detail: 'the record has no value' };
  const schemaId = record.headers[HEADER_SCHEMA];
  if (schemaId !== undefined) {
    const bundle = codecs.bundle.knows(schemaId);
    const codec = bundle ? codecs.bundle : codecs.item;
    let decoded: unknown;
    try {
      decoded = codec.decode(value, schemaId);
    } catch (error) {
      const message = (error as Error).message;
      return {
        ok: false,
        reason: message.startsWith('unknown schema') ? 'unknown_schema' : 'decode_failed',
        detail: message,
      };
    }
    if (!bundle) return { ok: true, items: [decoded], encoding: 'avro', bundle: false };
    const items = (decoded as Record<string, unknown[]>)[codecs.bundle.itemsField!];
    return items.length === 0 ? emptyBundle() : { ok: true, items, encoding: 'avro', bundle: true };
  }
  const contentType = record.headers[HEADER_CONTENT_TYPE];
  const first = value[0];
  if (
    contentType?.startsWith(JSON_TYPE) ||
    (contentType === undefined && (first === OPEN_BRACE || first === OPEN_BRACKET))
  ) {
    // '{' '['
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch (error) {
      return { ok: false, reason: 'decode_failed', detail: `malformed JSON: ${(error as Error).message}` };
    }
    if (Array.isArray(parsed))
      return parsed.length === 0 ? emptyBundle() : { ok: true, items: parsed, encoding: 'json', bundle: true };
    if (isPlainObject(parsed)) return { ok: true, items: [parsed], encoding: 'json', bundle: false };
    return {
      ok: false,
      reason: 'invalid',
      detail: 'the JSON value must be an object (one item) or an array of objects (a bundle)',
    };
  }
  return {
    ok: false,
    reason: 'decode_failed',
    detail: `unrecognised encoding: set header ${HEADER_SCHEMA} (Avro) or ${HEADER_CONTENT_TYPE}: ${JSON_TYPE}`,
  };
}

/**
 * About how many items a record carries, without decoding it, for consumers that size batches in items: what an
 * Avro bundle's first array block announces (but at least one per KiB, so a bundle that announces a small first
 * block cannot smuggle a large batch in), one per 64 bytes of a JSON array (an item is longer than that), 1 else.
 */
export function estimatedItems(record: ConsumedRecord, bundle: Codec): number {
  const value = record.value;
  if (value === null || value.length === 0) return 1;
  const schemaId = record.headers[HEADER_SCHEMA];
  if (schemaId !== undefined)
    return bundle.knows(schemaId)
      ? Math.max(announcedItems(value) ?? 1, Math.ceil(value.length / AVRO_ITEM_BYTES_ESTIMATE))
      : 1;
  return value[0] === OPEN_BRACKET ? Math.ceil(value.length / JSON_ITEM_BYTES_ESTIMATE) : 1;
}

/**
 * An item of a bundle on its own, as a record of the item's schema (the DLQ carries it alone, re-playable by
 * publishing its value with its headers): Avro items are re-encoded with the item schema, JSON items serialised.
 */
export function itemAlone(
  item: unknown,
  encoding: 'avro' | 'json',
  codec: Codec,
): { value: Buffer; headers: Record<string, string> } {
  if (encoding === 'avro') {
    try {
      return { value: codec.encode(item as object), headers: { [HEADER_SCHEMA]: codec.schemaId } };
    } catch {
      // Not encodable (cannot happen for an item decoded with this schema): keep its JSON form rather than nothing.
    }
  }
  return { value: Buffer.from(JSON.stringify(item) ?? 'null'), headers: { [HEADER_CONTENT_TYPE]: JSON_TYPE } };
}

/**
 * Who an item is attributed to (created_by): the created_by field of an Avro item of vigil's own producers (the
 * gateway writes the token subject there, the alerter its identity), else the direct producer, `kafka:<vigil-producer
 * header>` (`kafka:direct` without the header), whatever the item says. A system actor is accepted only on the
 * alerter's own Avro records; anywhere else the item is refused (and dead-lettered), so a producer cannot write
 * events that incident timelines would take for the alerter's. `sealed`: whether the record carries a seal that
 * verifies (shared/kafka/seal.ts), or null where no KAFKA_SEAL_SECRET is set. With a secret, only sealed records
 * are vigil's own: the header alone can be set by anyone who may write to the topics.
 */
export function creatorOf(
  record: ConsumedRecord,
  encoding: 'avro' | 'json',
  createdBy: unknown,
  sealed: boolean | null,
): { ok: true; value: string } | { ok: false; error: FieldError } {
  const producer = record.headers[HEADER_PRODUCER];
  const own = encoding === 'avro' && producer !== undefined && OWN_PRODUCERS.has(producer) && sealed !== false;
  if (!own || typeof createdBy !== 'string')
    return { ok: true, value: `${DIRECT_PRODUCER_PREFIX}${producer ?? 'direct'}` };
  if (isSystemActor(createdBy) && !(encoding === 'avro' && producer === PRODUCER_ALERTER)) {
    const message = `${JSON.stringify(createdBy)} is reserved for vigil itself`;
    return { ok: false, error: { field: 'created_by', message } };
  }
  return { ok: true, value: createdBy };
}

/** The producers whose Avro items carry their own created_by (the token subject, the alerter's identity). */
const OWN_PRODUCERS: ReadonlySet<string> = new Set([PRODUCER_GATEWAY, PRODUCER_ALERTER]);

function emptyBundle(): RecordItems {
  return { ok: false, reason: 'empty_value', detail: 'the bundle has no items' };
}
