/**
 * A sealed event bundle's Avro bytes turned into binary COPY rows without decoding them into objects: the UTF-8 of
 * an Avro string is the UTF-8 of COPY text, so each field's bytes are copied from the record into the batch's buffer
 * (a jsonb field with its version byte in front), the id's 36 hex characters become its 16 bytes and the timestamp's
 * varint becomes microseconds since 2000. Only the few strings the writer needs as strings are made (event_type,
 * source and level for the rollups; created_by for the created_by rule; a producer-chosen id), most of them found
 * among the ones seen before rather than decoded again.
 *
 * Only for a record the gateway sealed (its items were validated) and written with the EventBundle schema whose
 * field order this follows (TRANSCODED_SCHEMA; schemas/event.avsc): id, event_type, source, message (null | string),
 * level (null | string), tags, payload, timestamp, created_by (null | string), id_given. It writes the bytes
 * writeEventRow (copy-format.ts) writes for the decoded item: avro-copy.test.ts checks that byte for byte on
 * generated bundles, test/sealed-records.test.ts against the full validation. Anything else returns null and the
 * caller takes the decoding path, which stores or dead-letters it as it would any record: bytes past the end or
 * left over, a union branch out of range, an id that is not 36 characters, a string that is not UTF-8 (avsc, and
 * so the gateway, writes a lone surrogate of a short string as three bytes that decoding turns into U+FFFD), a
 * created_by the created_by rule refuses.
 */
import { isUtf8 } from 'node:buffer';
import { DIRECT_PRODUCER_PREFIX, isSystemActor } from '../../shared/auth/identity.ts';
import {
  type CopyRows,
  EVENT_FIELDS,
  FIELD_OVERHEAD,
  FIXED_FIELDS_BYTES,
  isNotable,
  JSONB_BYTES_PER_TEXT_BYTE,
  NOTABLE_ENTRY_BUDGET_BYTES,
} from './copy-format.ts';

/**
 * The EventBundle schema this follows. A change to schemas/event.avsc changes the bundle's id, and records of the
 * new schema take the decoding path until this is brought up to date (avro-copy.test.ts says so).
 */
export const TRANSCODED_SCHEMA = 'vigil.monitoring.EventBundle@a96f8c2721fd1a504749a1a9d1796bda';

/**
 * Makes what the caller keeps of a row beside its bytes [start, end): its time, the three strings the rollups
 * count by, the id when the producer chose it (else null) and the item's position in the bundle.
 */
export type RowMaker<T> = (
  start: number,
  end: number,
  timestamp: number,
  eventType: string,
  source: string,
  level: string | null,
  givenId: string | null,
  index: number,
) => T;

const VARINT_PAYLOAD_BITS = 7;
const VARINT_MORE = 0x80;
const VARINT_PAYLOAD = 0x7f;
/** A long's varint has at most 10 bytes. */
const VARINT_MAX_BYTES = 10;
const UNION_NULL = 0;
const UNION_VALUE = 1;
const UUID_TEXT_LENGTH = 36;
/** No field of a row is absent: the ten fields' overhead bounds the row beside its strings' bytes. */
const ROW_BOUND_BYTES = FIXED_FIELDS_BYTES + EVENT_FIELDS * FIELD_OVERHEAD;

/**
 * The strings of short UTF-8 byte ranges, kept by their bytes: rows repeat a few event types, levels, sources and
 * creators, and finding one here costs less than decoding it again. Bounded: cleared when it holds too many.
 */
class ShortStrings {
  private readonly byHash = new Map<number, { bytes: Buffer; text: string }[]>();
  private size = 0;

  of(b: Buffer, start: number, end: number): string {
    if (end - start > SHORT_STRING_BYTES) return b.toString('utf8', start, end);
    let hash = FNV_OFFSET;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ b[i], FNV_PRIME);
    let entries = this.byHash.get(hash);
    if (entries !== undefined) {
      for (const entry of entries) if (sameBytes(entry.bytes, b, start, end)) return entry.text;
    } else {
      if (this.size >= MAX_SHORT_STRINGS) {
        this.byHash.clear();
        this.size = 0;
      }
      this.byHash.set(hash, (entries = []));
    }
    const text = b.toString('utf8', start, end);
    entries.push({ bytes: Buffer.from(b.subarray(start, end)), text });
    this.size++;
    return text;
  }
}

function sameBytes(known: Buffer, b: Buffer, start: number, end: number): boolean {
  if (known.length !== end - start) return false;
  for (let i = 0; i < known.length; i++) if (known[i] !== b[start + i]) return false;
  return true;
}

const SHORT_STRING_BYTES = 64;
const MAX_SHORT_STRINGS = 4096;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** The bytes are not a bundle of the current Event schema: the caller takes the decoding path. */
class Unexpected extends Error {}

/** Reads the Avro binary of one bundle. */
class Reader {
  at = 0;
  constructor(readonly bytes: Buffer) {}

  /** A zigzag varint (Avro int or long). */
  long(): number {
    const b = this.bytes;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < VARINT_MAX_BYTES; i++) {
      if (this.at >= b.length) throw new Unexpected();
      const byte = b[this.at++];
      value += (byte & VARINT_PAYLOAD) * scale;
      if ((byte & VARINT_MORE) === 0) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      scale *= 2 ** VARINT_PAYLOAD_BITS;
    }
    throw new Unexpected();
  }

  /** A string: its first byte; `at` moves past it (its end). */
  string(): number {
    const length = this.long();
    const start = this.at;
    if (length < 0 || start + length > this.bytes.length) throw new Unexpected();
    this.at = start + length;
    return start;
  }

  /** A ["null", "string"] union: the string's first byte, or -1 for null. */
  optionalString(): number {
    const branch = this.long();
    if (branch === UNION_NULL) return -1;
    if (branch !== UNION_VALUE) throw new Unexpected();
    return this.string();
  }

  boolean(): boolean {
    if (this.at >= this.bytes.length) throw new Unexpected();
    return this.bytes[this.at++] !== 0;
  }
}

/**
 * Appends the rows of every item of `bundle` (the value of an EventBundle record the gateway sealed, with
 * `vigil-producer: gateway`) to `out`; null when the bytes are not what this expects or an item's created_by is
 * refused (the caller truncates `out` back and takes the decoding path).
 */
export function transcodeEventBundle<T>(bundle: Buffer, out: CopyRows, make: RowMaker<T>): T[] | null {
  const strings = shortStrings;
  const r = new Reader(bundle);
  const b = bundle;
  const rows: T[] = [];
  try {
    for (let count = r.long(); count !== 0; count = r.long()) {
      if (count < 0) r.long(); // a block with its byte size: -count items follow
      for (let i = Math.abs(count); i > 0; i--) {
        const id = r.string();
        if (r.at - id !== UUID_TEXT_LENGTH) return null;
        const eventType = r.string();
        const eventTypeEnd = r.at;
        const source = r.string();
        const sourceEnd = r.at;
        const message = r.optionalString();
        const messageEnd = r.at;
        const level = r.optionalString();
        const levelEnd = r.at;
        const tags = r.string();
        const tagsEnd = r.at;
        const payload = r.string();
        const payloadEnd = r.at;
        const timestamp = r.long();
        const createdBy = r.optionalString();
        const createdByEnd = r.at;
        const idGiven = r.boolean();

        // Avro strings are written as avsc writes them, a lone surrogate as its three bytes, which are not UTF-8:
        // decoding turns them into U+FFFD, so such an item takes the decoding path to be stored the same.
        if (
          !wellFormed(b, eventType, eventTypeEnd) ||
          !wellFormed(b, source, sourceEnd) ||
          !wellFormed(b, message < 0 ? 0 : message, message < 0 ? 0 : messageEnd) ||
          !wellFormed(b, level < 0 ? 0 : level, level < 0 ? 0 : levelEnd) ||
          !wellFormed(b, tags, tagsEnd) ||
          !wellFormed(b, payload, payloadEnd) ||
          !wellFormed(b, createdBy < 0 ? 0 : createdBy, createdBy < 0 ? 0 : createdByEnd)
        )
          return null;
        // The created_by rule for the gateway's items (record-items.ts creatorOf).
        const creator = createdBy < 0 ? GATEWAY_CREATOR : strings.of(b, createdBy, createdByEnd);
        if (isSystemActor(creator)) return null;
        const eventTypeText = strings.of(b, eventType, eventTypeEnd);
        const levelText = level < 0 ? null : strings.of(b, level, levelEnd);
        // notableTags() on the decoded item, with the exact byte counts it falls back to.
        const notable =
          isNotable({ level: levelText, event_type: eventTypeText }) &&
          sourceEnd - source + JSONB_BYTES_PER_TEXT_BYTE * (tagsEnd - tags) <= NOTABLE_ENTRY_BUDGET_BYTES;
        const start = out.length;
        out.reserve(ROW_BOUND_BYTES + (r.at - eventType) + (tagsEnd - tags) + Buffer.byteLength(creator));
        out.fields(EVENT_FIELDS);
        out.uuidBytes(b, id);
        out.timestamp(timestamp);
        out.textBytes(b, eventType, eventTypeEnd);
        out.textBytes(b, source, sourceEnd);
        if (level < 0) out.nullField();
        else out.textBytes(b, level, levelEnd);
        if (message < 0) out.nullField();
        else out.textBytes(b, message, messageEnd);
        out.jsonbBytes(b, tags, tagsEnd);
        out.jsonbBytes(b, payload, payloadEnd);
        if (createdBy < 0) out.text(creator);
        else out.textBytes(b, createdBy, createdByEnd);
        if (notable) out.jsonbBytes(b, tags, tagsEnd);
        else out.nullField();
        const givenId = idGiven ? b.toString('latin1', id, id + UUID_TEXT_LENGTH) : null;
        const sourceText = strings.of(b, source, sourceEnd);
        rows.push(make(start, out.length, timestamp, eventTypeText, sourceText, levelText, givenId, rows.length));
      }
    }
    return r.at === b.length ? rows : null;
  } catch (error) {
    if (error instanceof Unexpected) return null;
    throw error;
  }
}

/** Whether b[start, end) is well-formed UTF-8: ASCII found by a loop, anything else asked of the runtime. */
function wellFormed(b: Buffer, start: number, end: number): boolean {
  if (end - start <= ASCII_SCAN_BYTES) {
    let any = 0;
    for (let i = start; i < end; i++) any |= b[i];
    if (any < ASCII_END) return true;
  }
  return isUtf8(b.subarray(start, end));
}

const ASCII_SCAN_BYTES = 64;
const ASCII_END = 0x80;

const GATEWAY_CREATOR = `${DIRECT_PRODUCER_PREFIX}gateway`;
const shortStrings = new ShortStrings();
