/**
 * PostgreSQL's binary COPY format for the writer's tables, written straight into one buffer per batch. Column
 * order is the contract with the COPY statements (copy-writer.ts) and with infra/migrations/0001 — change all three
 * together:
 *   events:  id, timestamp, event_type, source, level, message, tags, payload, created_by, notable_tags
 *   metrics: id, timestamp, name, metric_type, value, labels, created_by
 * notable_tags (migration 0011) repeats the tags of a notable event (warn and above, or an alert: the predicate of
 * the partial index events_notable_idx, which includes the column) when they are small enough for the index entry
 * to stay under PostgreSQL's btree limit whatever their content, and is NULL otherwise.
 *
 * Why binary rather than text: the server neither parses uuid and timestamptz text nor un-escapes fields, and the
 * writer neither escapes nor formats ISO dates; each row is a few length-prefixed writes into the batch's buffer, so
 * a row's bytes exist once and no string per row outlives its decoding (measured: bench/README.md, "Writer"). jsonb
 * is sent as its version byte and the JSON text, which the server parses as it parses text input. Strings are
 * written as UTF-8 as Buffer.from writes them (a lone surrogate becomes U+FFFD, as it did in COPY text); NUL never
 * reaches here (validation refuses it: PostgreSQL text cannot hold it).
 */
import type { EventRecord } from '../../shared/schemas/event.ts';
import type { MetricRecord } from '../../shared/schemas/metric.ts';

import { MAX_UTF8_BYTES_PER_UTF16_UNIT } from '../../shared/units.ts';

export const EVENT_COLUMNS =
  'id, "timestamp", event_type, source, level, message, tags, payload, created_by, notable_tags';
export const METRIC_COLUMNS = 'id, "timestamp", name, metric_type, value, labels, created_by';
export const EVENT_FIELDS = 10;
const METRIC_FIELDS = 7;

/** Field count (int16) of a row; length prefix (int32) of a field; int64, float8. */
const ROW_HEADER = 2;
const FIELD_HEADER = 4;
const EIGHT_BYTES = 8;
const UUID_BYTES = 16;
/** The length prefix of a NULL field, and the field count that ends a body. */
const NULL_LENGTH = -1;

const FLAGS_AND_EXTENSION_BYTES = 8;
const ALL_ONES = 0xff;

/** Signature, flags (no OIDs) and an empty header extension: what every binary COPY body starts with. */
export const COPY_HEADER = Buffer.concat([
  Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  Buffer.alloc(FLAGS_AND_EXTENSION_BYTES),
]);
/** The field count -1 that ends a binary COPY body. */
export const COPY_TRAILER = Buffer.alloc(ROW_HEADER, ALL_ONES);

/** timestamptz travels as microseconds since 2000-01-01T00:00:00Z. */
const PG_EPOCH_MS = Date.parse('2000-01-01T00:00:00Z');
const US_PER_MS = 1000;
/** Beyond this many ms from PostgreSQL's epoch, ms × 1000 is no longer an exact double. */
const EXACT_MS = Math.floor(Number.MAX_SAFE_INTEGER / US_PER_MS);
const TWO_32 = 4_294_967_296;
const JSONB_VERSION = 1;
const INITIAL_BYTES = 65_536;
/** A field's worst case beside its text: length prefix, jsonb version byte. */
export const FIELD_OVERHEAD = FIELD_HEADER + 1;

/**
 * Binary COPY rows appended into one growing buffer (a batch's rows, without COPY_HEADER and COPY_TRAILER).
 * A row is the byte range [start, end) between two readings of `length`.
 */
export class CopyRows {
  bytes: Buffer;
  length = 0;

  constructor(capacity = INITIAL_BYTES) {
    this.bytes = Buffer.allocUnsafe(capacity);
  }

  /** Makes room for `n` more bytes: every write below relies on it (Buffer.write would truncate silently). */
  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + n));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  /** The rows written so far (shares this buffer's memory). */
  written(): Buffer {
    return this.bytes.subarray(0, this.length);
  }

  /** Forgets what was written after `mark` (an earlier `length`). */
  truncate(mark: number): void {
    this.length = mark;
  }

  /** The bytes of `rows` (ranges of this buffer) in order, shared with it when they are contiguous. */
  slice(rows: readonly { start: number; end: number }[]): Buffer {
    if (rows.length === 0) return Buffer.alloc(0);
    let contiguous = true;
    for (let i = 1; i < rows.length && contiguous; i++) contiguous = rows[i].start === rows[i - 1].end;
    if (contiguous) return this.bytes.subarray(rows[0].start, rows[rows.length - 1].end);
    return Buffer.concat(rows.map((r) => this.bytes.subarray(r.start, r.end)));
  }

  fields(count: number): void {
    this.length = this.bytes.writeInt16BE(count, this.length);
  }

  text(value: string): void {
    const at = this.length;
    const written = this.bytes.write(value, at + FIELD_HEADER);
    this.bytes.writeInt32BE(written, at);
    this.length = at + FIELD_HEADER + written;
  }

  textOrNull(value: string | null): void {
    if (value === null) this.nullField();
    else this.text(value);
  }

  jsonb(value: string): void {
    const at = this.length;
    this.bytes[at + FIELD_HEADER] = JSONB_VERSION;
    const written = this.bytes.write(value, at + FIELD_HEADER + 1);
    this.bytes.writeInt32BE(written + 1, at);
    this.length = at + FIELD_HEADER + 1 + written;
  }

  jsonbOrNull(value: string | null): void {
    if (value === null) this.nullField();
    else this.jsonb(value);
  }

  /** A NULL field. */
  nullField(): void {
    this.length = this.bytes.writeInt32BE(NULL_LENGTH, this.length);
  }

  /** Text given as its UTF-8 bytes: src[start, end). */
  textBytes(src: Buffer, start: number, end: number): void {
    const at = this.bytes.writeInt32BE(end - start, this.length);
    this.length = copyBytes(src, start, end, this.bytes, at);
  }

  /** jsonb given as the UTF-8 bytes of its JSON text: src[start, end). */
  jsonbBytes(src: Buffer, start: number, end: number): void {
    const at = this.bytes.writeInt32BE(end - start + 1, this.length);
    this.bytes[at] = JSONB_VERSION;
    this.length = copyBytes(src, start, end, this.bytes, at + 1);
  }

  /** A validated UUID's 36 characters, given as bytes from src[start] (see uuid()). */
  uuidBytes(src: Buffer, start: number): void {
    const b = this.bytes;
    let at = b.writeInt32BE(UUID_BYTES, this.length);
    for (let i = start; i < start + UUID_TEXT_LENGTH; i += 2) {
      if (src[i] === DASH) i++;
      b[at++] = (hexValue(src[i]) << BITS_PER_HEX_DIGIT) | hexValue(src[i + 1]);
    }
    this.length = at;
  }

  /** A validated UUID: 36 characters, hex digits and dashes at 8, 13, 18, 23. */
  uuid(id: string): void {
    const b = this.bytes;
    let at = b.writeInt32BE(UUID_BYTES, this.length);
    for (let i = 0; i < UUID_TEXT_LENGTH; i += 2) {
      if (id.charCodeAt(i) === DASH) i++;
      b[at++] = (hexValue(id.charCodeAt(i)) << BITS_PER_HEX_DIGIT) | hexValue(id.charCodeAt(i + 1));
    }
    this.length = at;
  }

  /** Epoch milliseconds (an integer) as timestamptz. */
  timestamp(ms: number): void {
    const b = this.bytes;
    const at = b.writeInt32BE(EIGHT_BYTES, this.length);
    const fromEpoch = ms - PG_EPOCH_MS;
    if (Math.abs(fromEpoch) > EXACT_MS) {
      this.length = b.writeBigInt64BE(BigInt(fromEpoch) * BigInt(US_PER_MS), at);
      return;
    }
    const us = fromEpoch * US_PER_MS;
    const high = Math.floor(us / TWO_32);
    b.writeInt32BE(high, at);
    this.length = b.writeUInt32BE(us - high * TWO_32, at + FIELD_HEADER);
  }

  float8(value: number): void {
    const at = this.bytes.writeInt32BE(EIGHT_BYTES, this.length);
    this.length = this.bytes.writeDoubleBE(value, at);
  }
}

/**
 * Copies src[start, end) to dst at `at`; returns the end of what it wrote. Fields are mostly short, and below a few
 * dozen bytes a loop costs less than Buffer.copy's call into C++.
 */
function copyBytes(src: Buffer, start: number, end: number, dst: Buffer, at: number): number {
  if (end - start > SHORT_COPY_BYTES) return at + src.copy(dst, at, start, end);
  for (let i = start; i < end; i++) dst[at++] = src[i];
  return at;
}

const SHORT_COPY_BYTES = 32;
const UUID_TEXT_LENGTH = 36;
const DASH = 45;
const BITS_PER_HEX_DIGIT = 4;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const LOWER_A_MINUS_10 = 87;
const LOWER_CASE_BIT = 32;

function hexValue(code: number): number {
  return code <= DIGIT_9 ? code - DIGIT_0 : (code | LOWER_CASE_BIT) - LOWER_A_MINUS_10;
}

/** The 32 hex digits of a UUID, grouped by its text's dashes. */
const UUID_GROUPS = /^(.{8})(.{4})(.{4})(.{4})/;

/** The id of the row starting at `start` (both tables begin with it), as validation writes a UUID: lower case. */
export function rowId(rows: CopyRows, start: number): string {
  const from = start + ROW_HEADER + FIELD_HEADER;
  const hex = rows.bytes.toString('hex', from, from + UUID_BYTES);
  return hex.replace(UUID_GROUPS, '$1-$2-$3-$4-');
}

/**
 * Bytes of an events_notable_idx entry left for source and tags: the btree limit for 8 KB pages is 2704 bytes per
 * entry; the tuple header, timestamp, id, event_type and alignment take under 100.
 */
export const NOTABLE_ENTRY_BUDGET_BYTES = 2400;
/**
 * jsonb's binary form is at most ~6 times its compact JSON text (`[0,0,0]`: 2 characters → 12 bytes per element;
 * typical tags are about their text's size), so tags whose text is ≤ (budget − source) / 6 bytes always fit.
 */
export const JSONB_BYTES_PER_TEXT_BYTE = 6;

export function isNotable(e: { level: string | null; event_type: string }): boolean {
  return e.level === 'warn' || e.level === 'error' || e.level === 'fatal' || e.event_type === 'alert';
}

/** The tags copied into notable_tags, or null (not notable, or too large to include in the index). */
export function notableTags(e: EventRecord): string | null {
  if (!isNotable(e)) return null;
  // UTF-16 units × 3 bound the UTF-8 bytes: count bytes only when the quick bound does not already decide.
  const quick =
    MAX_UTF8_BYTES_PER_UTF16_UNIT * e.source.length +
    JSONB_BYTES_PER_TEXT_BYTE * MAX_UTF8_BYTES_PER_UTF16_UNIT * e.tags.length;
  if (quick <= NOTABLE_ENTRY_BUDGET_BYTES) return e.tags;
  const exact = Buffer.byteLength(e.source) + JSONB_BYTES_PER_TEXT_BYTE * Buffer.byteLength(e.tags);
  return exact <= NOTABLE_ENTRY_BUDGET_BYTES ? e.tags : null;
}

/** The most bytes `value` takes as a field. */
function bound(value: string | null): number {
  return FIELD_OVERHEAD + (value === null ? 0 : MAX_UTF8_BYTES_PER_UTF16_UNIT * value.length);
}

/** The row header and the fixed-size fields (uuid, timestamptz, float8). */
export const FIXED_FIELDS_BYTES = ROW_HEADER + FIELD_HEADER + UUID_BYTES + 2 * (FIELD_HEADER + EIGHT_BYTES);

export function writeEventRow(out: CopyRows, e: EventRecord): void {
  const notable = notableTags(e);
  out.reserve(
    FIXED_FIELDS_BYTES +
      bound(e.event_type) +
      bound(e.source) +
      bound(e.level) +
      bound(e.message) +
      2 * bound(e.tags) +
      bound(e.payload) +
      bound(e.created_by),
  );
  out.fields(EVENT_FIELDS);
  out.uuid(e.id);
  out.timestamp(e.timestamp);
  out.text(e.event_type);
  out.text(e.source);
  out.textOrNull(e.level);
  out.textOrNull(e.message);
  out.jsonb(e.tags);
  out.jsonb(e.payload);
  out.textOrNull(e.created_by);
  out.jsonbOrNull(notable);
}

export function writeMetricRow(out: CopyRows, m: MetricRecord): void {
  const labels = JSON.stringify(m.labels);
  out.reserve(FIXED_FIELDS_BYTES + bound(m.name) + bound(m.metric_type) + bound(labels) + bound(m.created_by));
  out.fields(METRIC_FIELDS);
  out.uuid(m.id);
  out.timestamp(m.timestamp);
  out.text(m.name);
  out.text(m.metric_type);
  // -0 was stored as 0 when rows went as text (String(-0) is "0"): kept so.
  out.float8(m.value === 0 ? 0 : m.value);
  out.jsonb(labels);
  out.textOrNull(m.created_by);
}
