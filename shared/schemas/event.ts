/**
 * An event as the contract defines it, validated the same way whether it came over HTTP or straight from Kafka.
 * The validated form (EventRecord) keeps tags and payload as JSON text: that is what Avro carries and what COPY
 * writes into jsonb, so the hot path never parses or re-serialises them.
 */
import { ALERTER_ACTOR, isSystemSource } from '../auth/identity.ts';
import { uuidV7Millis, uuidv7 } from './uuid7.ts';
import type { FieldError } from '../errors.ts';
import { Checker, isPlainObject, describe, type TimeWindow } from './validate.ts';
import { MS_PER_DAY, MS_PER_SECOND } from '../units.ts';
import { NOT_PLAIN, type JsonTextScan } from './json-text.ts';

export const EVENT_TYPES = ['log', 'metric', 'trace', 'alert'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type Level = (typeof LEVELS)[number];

export interface EventLimits {
  sourceMaxLength: number;
  messageMaxLength: number;
  maxTags: number;
  tagsMaxBytes: number;
  payloadMaxBytes: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = {
  sourceMaxLength: 255,
  messageMaxLength: 8192,
  maxTags: 64,
  tagsMaxBytes: 8192,
  payloadMaxBytes: 16_384,
};

export interface EventRecord {
  id: string;
  event_type: EventType;
  source: string;
  message: string | null;
  level: Level | null;
  /** JSON object text. */
  tags: string;
  /** JSON object text. */
  payload: string;
  /** Epoch milliseconds. */
  timestamp: number;
  created_by: string | null;
  /** The producer chose the id (the writer stores it once within the idempotency window); false: generated. */
  id_given: boolean;
}

const SYSTEM_SOURCE_RESERVED = "is reserved for vigil's own alert events; name your service instead";

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

const EVENT_FIELDS = new Set(['id', 'event_type', 'source', 'message', 'level', 'tags', 'payload', 'timestamp']);

export interface EventContext {
  window: TimeWindow;
  limits: EventLimits;
  createdBy: string | null;
  index?: number;
  /** The time (epoch ms) a generated id embeds, when the caller read the clock already; else the clock's. */
  idTime?: number;
  /**
   * The JSON text of input.tags / input.payload, stored as is, not re-serialised: the text they were parsed from,
   * unchanged since, or the text JSON.stringify gives for them (shared/schemas/plain-json.ts).
   */
  texts?: JsonTexts;
  /**
   * Top-level key counts of the texts a scan found plain (parseEventTexts): input.tags / input.payload is then that
   * text itself, a JSON object with this many keys that redaction leaves as it is.
   */
  keys?: JsonKeyCounts;
}

export type JsonTexts = { tags?: string; payload?: string };
export type JsonKeyCounts = { tags?: number; payload?: number };
export const JSON_FIELDS = ['tags', 'payload'] as const;

/**
 * An event item decoded from Avro carries tags and payload as JSON object text: parses them in place into the
 * objects the validator (and redaction) take, and returns the texts to hand back through EventContext.texts.
 * Null when one of them is not JSON object text. With `plain` (a scan of shared/schemas/json-text.ts), a text the
 * scan finds plain is not parsed: it stays text in `input`, and its top-level key count goes to `keys` (for
 * EventContext.keys); the caller skips the depth bound and redaction for it, which would leave it as it is.
 */
export function parseEventTexts(
  input: Record<string, unknown>,
  plain?: { scan: JsonTextScan; keys: JsonKeyCounts; maxTags: number },
): JsonTexts | null {
  const texts: JsonTexts = {};
  for (const field of JSON_FIELDS) {
    const text = input[field];
    if (typeof text !== 'string') return null;
    const keys = plain === undefined ? NOT_PLAIN : plain.scan(text, field === 'tags' ? plain.maxTags : ANY_KEYS);
    if (keys !== NOT_PLAIN) plain!.keys[field] = keys;
    else if (text === '{}') input[field] = {};
    else {
      try {
        const value: unknown = JSON.parse(text);
        if (!isPlainObject(value)) return null;
        input[field] = value;
      } catch {
        return null;
      }
    }
    texts[field] = text;
  }
  return texts;
}

/** Payload keys are not limited in number. */
const ANY_KEYS = Number.MAX_SAFE_INTEGER;

export function validateEvent(input: unknown, ctx: EventContext): Validated<EventRecord> {
  const check = new Checker(ctx.index);
  if (!isPlainObject(input)) {
    check.fail(
      '(body)',
      `must be a JSON object with event_type, source and optional message, level, tags, payload, timestamp, id; got ` +
        `${describe(input)}`,
    );
    return { ok: false, errors: check.errors };
  }
  const { limits } = ctx;
  check.unknownKeys(input, EVENT_FIELDS);
  const id = check.uuid('id', input.id);
  const eventType = check.oneOf('event_type', input.event_type, EVENT_TYPES, true);
  const source = check.string('source', input.source, { required: true, maxLength: limits.sourceMaxLength });
  // The alerter's source: its alert events are trusted by incident timelines, so nobody else may write it.
  if (source !== null && isSystemSource(source) && ctx.createdBy !== ALERTER_ACTOR) {
    check.fail('source', `${JSON.stringify(source)} ${SYSTEM_SOURCE_RESERVED}`);
  }
  const message = check.string('message', input.message, { required: false, maxLength: limits.messageMaxLength });
  const level = check.oneOf('level', input.level, LEVELS, false);
  const tags = check.jsonObject(
    'tags',
    input.tags,
    { maxKeys: limits.maxTags, maxBytes: limits.tagsMaxBytes },
    ctx.texts?.tags,
    ctx.keys?.tags,
  );
  const payload = check.jsonObject(
    'payload',
    input.payload,
    { maxKeys: ANY_KEYS, maxBytes: limits.payloadMaxBytes },
    ctx.texts?.payload,
    ctx.keys?.payload,
  );
  const timestamp = check.timestamp('timestamp', input.timestamp, ctx.window);
  if (check.errors.length > 0) return { ok: false, errors: check.errors };
  return {
    ok: true,
    value: new ValidEvent(
      id ?? uuidv7(ctx.idTime),
      eventType!,
      source!,
      message,
      level,
      tags!,
      payload!,
      timestamp ?? timestampFromId(id, ctx.window) ?? ctx.window.now,
      ctx.createdBy,
      id !== null,
    ),
  };
}

/**
 * A validated event, made by `new` rather than by an object literal: V8 keeps an allocation site per literal and,
 * when a young-generation collection finds nearly all of a site's objects alive (the gateway's records live until
 * Kafka acknowledges them), allocates that site's objects in the old generation from then on — in about one process
 * of three, depending on where the first collections fell, validation then ran ~4× slower and collections cost ~3×
 * as much. Objects made by a constructor carry no allocation site. The same own properties, in the same order.
 */
class ValidEvent implements EventRecord {
  declare id: string;
  declare event_type: EventType;
  declare source: string;
  declare message: string | null;
  declare level: Level | null;
  declare tags: string;
  declare payload: string;
  declare timestamp: number;
  declare created_by: string | null;
  declare id_given: boolean;

  constructor(
    id: string,
    eventType: EventType,
    source: string,
    message: string | null,
    level: Level | null,
    tags: string,
    payload: string,
    timestamp: number,
    createdBy: string | null,
    idGiven: boolean,
  ) {
    this.id = id;
    this.event_type = eventType;
    this.source = source;
    this.message = message;
    this.level = level;
    this.tags = tags;
    this.payload = payload;
    this.timestamp = timestamp;
    this.created_by = createdBy;
    this.id_given = idGiven;
  }
}

/** The API's JSON view of an event record. */
export function eventToJson(record: EventRecord): Record<string, unknown> {
  return {
    id: record.id,
    event_type: record.event_type,
    source: record.source,
    message: record.message,
    level: record.level,
    tags: JSON.parse(record.tags),
    payload: JSON.parse(record.payload),
    timestamp: new Date(record.timestamp).toISOString(),
    created_by: record.created_by,
  };
}

/**
 * A client that supplies a UUIDv7 id but no timestamp gets the id's embedded time, so a retried request carries the
 * same (timestamp, id) primary key and is stored once. Other ids fall back to the arrival time.
 */
export function timestampFromId(id: string | null, window: TimeWindow): number | null {
  const ms = id === null ? null : uuidV7Millis(id);
  if (ms === null) return null;
  const inWindow =
    ms >= window.now - window.retentionDays * MS_PER_DAY &&
    ms <= window.now + window.futureGraceSeconds * MS_PER_SECOND;
  return inWindow ? ms : null;
}
