/**
 * Avro codecs compiled once from schemas/*.avsc (the current reader schemas) and schemas/history/*.avsc (every
 * schema ever written to a topic). Each record carries the header `vigil-schema: <full name>@<md5 fingerprint hex>`
 * naming its writer schema; the reader resolves writer → current, so records written before a field was added
 * stay readable.
 *
 * Bundle schemas (event-bundle.avsc, metric-bundle.avsc: a record with one array field) name their item type
 * (`vigil.monitoring.Event`) instead of repeating it, so an item schema has one source of truth. A bundle's writer
 * schemas are derived: the bundle of every historic version of its item type (`EventBundle` over `event-v1.avsc`),
 * so evolving an item schema evolves its bundle with nothing else to copy into history/.
 *
 * Wire form of a bundle (Avro binary of a record whose only field is an array): zigzag varint of the item count,
 * the items' own encodings one after the other, then a zero (the end of the array). frameBundle() builds exactly
 * that from items encoded one by one, so producers can group items encoded earlier without re-encoding them.
 */
import fs from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import { ROOT_DIR } from '../config.ts';

export interface Codec {
  /** Full name of the reader schema (`vigil.monitoring.Event`). */
  readonly name: string;
  /** `<full name>@<fingerprint>`: the value of the vigil-schema header for records this codec writes. */
  readonly schemaId: string;
  /** For a bundle codec: the name of its array field (`events`, `metrics`); null for an item codec. */
  readonly itemsField: string | null;
  encode(value: object): Buffer;
  /**
   * Like encode, but the bytes are a view into a shared 64 KiB slab (no allocation per value: encode's own buffer
   * allocation was a tenth of the gateway's CPU). A view keeps its slab alive: for bytes that are copied on soon,
   * as the producer's bundles copy their items.
   */
  encodeView(value: object): Buffer;
  /**
   * encodeView of each of `values`; records whose strings are all ASCII (most events) are written with one call
   * for all of them, and the views share the slab's memory in order.
   */
  encodeViews(values: readonly object[]): Buffer[];
  /** Whether `schemaId` names this schema or one of its writer versions (history/). */
  knows(schemaId: string): boolean;
  /** Decodes with the writer schema named by schemaId; throws when the id is unknown or the bytes are invalid. */
  decode(buffer: Buffer, schemaId: string): unknown;
}

const SCHEMA_DIR = path.join(ROOT_DIR, 'schemas');
/** Avro varints: 7 payload bits per byte, the high bit set on every byte but the last; a 32-bit count fits in 5. */
const VARINT_PAYLOAD_BITS = 7;
const VARINT_CONTINUATION = 0x80;
const VARINT_MAX_BYTES = 5;

function readJson(dir: string): unknown[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as unknown);
}

function schemaIdOf(type: avro.Type): string {
  return `${type.name}@${type.fingerprint('md5').toString('hex')}`;
}

/** Parses a schema that may name types of `known` (a fresh registry each time: avsc adds to it). */
function parse(schema: unknown, known: avro.Type[] = []): avro.Type | null {
  const registry: Record<string, avro.Type> = {};
  for (const type of known) registry[type.name!] = type;
  try {
    return avro.Type.forSchema(schema as avro.Schema, { registry });
  } catch (error) {
    if (/undefined type name/.test((error as Error).message)) return null;
    throw error;
  }
}

function buildCodec(reader: avro.Type, writers: avro.Type[]): Codec {
  const schemaId = schemaIdOf(reader);
  const resolvers = new Map<string, avro.Resolver | null>([[schemaId, null]]);
  for (const writer of writers) {
    if (writer.name !== reader.name) continue;
    const id = schemaIdOf(writer);
    if (!resolvers.has(id)) resolvers.set(id, reader.createResolver(writer));
  }
  const fields = (reader as avro.types.RecordType).fields;
  const itemsField = fields.length === 1 && fields[0].type.typeName === 'array' ? fields[0].name : null;
  const fieldWriter = compileWriter(reader);
  const build = fieldWriter === null ? null : compileTextBuilder(reader as avro.types.RecordType);
  const writer = fieldWriter === null ? null : textWriter(build!, fieldWriter);
  return {
    name: reader.name!,
    schemaId,
    itemsField,
    encode: (value) => reader.toBuffer(value),
    encodeView: (value) => slab.encode(reader, writer, value),
    encodeViews: (values) => slab.encodeAll(reader, writer, build, values),
    knows: (id) => resolvers.has(id),
    decode(buffer, id) {
      const resolver = resolvers.get(id);
      if (resolver === undefined) throw new Error(`unknown schema ${id} (known: ${[...resolvers.keys()].join(', ')})`);
      return resolver === null ? reader.fromBuffer(buffer) : reader.fromBuffer(buffer, resolver);
    },
  };
}

/** Codecs keyed by short name (`Event`, `Metric`, `EventBundle`, `MetricBundle`). */
export function loadCodecs(dir = SCHEMA_DIR): ReadonlyMap<string, Codec> {
  const history = readJson(path.join(dir, 'history')).map((schema) => parse(schema)!);
  const current = readJson(dir);
  const items = current.map((schema) => parse(schema)).filter((type): type is avro.Type => type !== null);
  const readers = [...items];
  const writers = [...history];
  for (const schema of current) {
    if (parse(schema) !== null) continue;
    // A bundle: its reader names the current item types; its writers are the bundles of every historic item type.
    readers.push(parse(schema, items)!);
    for (const old of history) {
      const bundle = parse(schema, [...items.filter((t) => t.name !== old.name), old]);
      if (bundle !== null) writers.push(bundle);
    }
  }
  const codecs = new Map<string, Codec>();
  for (const reader of readers) codecs.set(reader.name!.split('.').pop()!, buildCodec(reader, writers));
  return codecs;
}

const SLAB_BYTES = 65_536;

/** Hands out consecutive views of a buffer that is replaced, not reused, once full (old views stay valid). */
class Slab {
  private buffer = Buffer.allocUnsafe(SLAB_BYTES);
  private at = 0;
  private readonly patches: number[] = [];

  /**
   * The records as one text (compileTextBuilder) written by one encodeInto, when every record builds and the text is
   * all ASCII; else (or without a builder) record by record.
   */
  encodeAll(
    type: avro.Type,
    writer: RecordWriter | null,
    build: TextBuilder | null,
    values: readonly unknown[],
  ): Buffer[] {
    const one = (value: unknown) => this.encode(type, writer, value);
    if (build === null || values.length < 2) return values.map(one);
    const patches = this.patches;
    patches.length = 0;
    const ends: number[] = new Array(values.length);
    let text = '';
    for (let i = 0; i < values.length; i++) {
      const part = build(values[i], text.length, patches);
      if (part === null) return values.map(one);
      text += part;
      ends[i] = text.length;
    }
    if (this.at + text.length > this.buffer.length) {
      this.buffer = Buffer.allocUnsafe(Math.max(SLAB_BYTES, text.length));
      this.at = 0;
    }
    if (!writeText(this.buffer, this.at, text, patches)) return values.map(one);
    const views: Buffer[] = new Array(values.length);
    let start = this.at;
    for (let i = 0; i < values.length; i++) {
      const end = this.at + ends[i];
      views[i] = this.buffer.subarray(start, end);
      start = end;
    }
    this.at += text.length;
    return views;
  }

  encode(type: avro.Type, writer: RecordWriter | null, value: unknown): Buffer {
    const end = writer === null ? NOT_WRITTEN : writer(value, this.buffer, this.at);
    if (end >= 0) {
      const view = this.buffer.subarray(this.at, end);
      this.at = end;
      return view;
    }
    // Not room enough, or a value the compiled writer leaves to avsc: avsc's encoding, which also sizes the slab.
    for (;;) {
      const end = type.encode(value, this.buffer, this.at);
      if (end >= 0) {
        const view = this.buffer.subarray(this.at, end);
        this.at = end;
        return view;
      }
      // -end more bytes were needed: a fresh slab (bigger when one value needs it).
      this.buffer = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (this.buffer.length - this.at - end)));
      this.at = 0;
    }
  }
}

const slab = new Slab();

/**
 * Writes a record's Avro encoding at `at` of `out` and returns where it ends, or NOT_WRITTEN: the value has a field
 * the writer leaves to avsc (missing, of another type) or `out` may be too short. Then avsc encodes it (a missing
 * field's default, the error for a wrong type, the size it needs).
 */
type RecordWriter = (value: unknown, out: Buffer, at: number) => number;

const NOT_WRITTEN = -1;
/** Field kinds of the compiled writer. */
const STRING = 0;
const NULLABLE_STRING = 1;
const LONG = 2;
const BOOLEAN = 3;
/** ASCII strings shorter than this have a one-byte length (zigzag 2n < 0x80), than the next a two-byte one. */
const ONE_BYTE_LENGTH = 64;
const TWO_BYTE_LENGTH_LIMIT = 8192;
/** Up to this many UTF-16 units a JavaScript loop copies a string faster than a call into the runtime. */
const JS_COPY_MAX_UNITS = 32;
const VARINT_PAYLOAD_MASK = 0x7f;
const UTF8_MAX_BYTES_PER_UNIT = 3;
const encoder = new TextEncoder();
/** avsc writes strings of more UTF-8 bytes than this with Buffer#utf8Write, shorter ones in JavaScript. */
const AVSC_NATIVE_WRITE_BYTES = 64;
/** Room a field may take beyond its string's UTF-16 units × 3 (a length or long varint, a union index). */
const FIELD_HEADROOM = 12;
/** The largest magnitude avsc writes as a long (its isSafeLong: one less than Number.MAX_SAFE_INTEGER). */
const MAX_LONG = Number.MAX_SAFE_INTEGER - 1;
/** A field name as Avro allows it: safe to compile into a property access. */
const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A writer for a record of strings, nullable strings (`["null", "string"]`), longs and booleans — the event record
 * (a metric, with its double and map, stays with avsc) — with the bytes avsc writes, in less time: avsc measures
 * every string with Buffer.byteLength and walks a union's branches per value; here an ASCII string is written in
 * one pass and its length known from it. Other strings take avsc's own steps (the same bytes, lone surrogates
 * included). Compiled from the schema's field names (as avsc compiles its own writers) so that each field is read
 * by name, not by a key the engine must look up for every record. Null when the record has a field of another
 * type: avsc then encodes it.
 */
function compileWriter(type: avro.Type): RecordWriter | null {
  if (!(type instanceof avro.types.RecordType)) return null;
  let body = 'let pos = at;\nlet v;\n';
  for (const field of type.fields) {
    if (!AVRO_NAME.test(field.name)) return null;
    const kind = fieldKind(field.type);
    if (kind === null) return null;
    body += `v = record.${field.name};\n`;
    if (kind === NULLABLE_STRING) {
      const branches = (field.type as avro.types.UnwrappedUnionType).types.map((branch) => branch.typeName);
      const nullIndex = 2 * branches.indexOf('null');
      const stringIndex = 2 * branches.indexOf('string');
      body +=
        'if (v === null) {\n  if (pos + headroom > out.length) return notWritten;\n' +
        `  out[pos++] = ${nullIndex};\n} else {\n` +
        '  if (typeof v !== "string" || pos + headroom + 3 * v.length > out.length) return notWritten;\n' +
        `  out[pos++] = ${stringIndex};\n  pos = writeString(out, pos, v);\n}\n`;
    } else if (kind === STRING) {
      body +=
        'if (typeof v !== "string" || pos + headroom + 3 * v.length > out.length) return notWritten;\n' +
        'pos = writeString(out, pos, v);\n';
    } else if (kind === LONG) {
      body +=
        'if (!Number.isInteger(v) || Math.abs(v) > maxLong || pos + headroom > out.length) return notWritten;\n' +
        'pos = writeLong(out, pos, v);\n';
    } else {
      body +=
        'if (typeof v !== "boolean" || pos + headroom > out.length) return notWritten;\n' + 'out[pos++] = v ? 1 : 0;\n';
    }
  }
  body += 'return pos;';
  const compile = new Function(
    'writeString',
    'writeLong',
    'headroom',
    'notWritten',
    'maxLong',
    `return function write${type.name!.split('.').pop()}(record, out, at) {\n${body}\n};`,
  );
  return compile(writeString, writeLong, FIELD_HEADROOM, NOT_WRITTEN, MAX_LONG) as RecordWriter;
}

/** A one-byte zigzag length (ASCII strings of fewer than 64 units) as the character of that code. */
const ONE_BYTE_LENGTHS: readonly string[] = Array.from({ length: ONE_BYTE_LENGTH }, (_, n) =>
  String.fromCharCode(2 * n),
);
/** Room for a varint of n bytes, patched in once the text is written (a long's varint has at most 10). */
const LONG_MAX_BYTES = 10;
const PLACEHOLDERS: readonly string[] = Array.from({ length: LONG_MAX_BYTES + 1 }, (_, n) => '\u0000'.repeat(n));

/** Bytes of a long's zigzag varint. */
function longBytes(n: number): number {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  let bytes = 1;
  while (z >= VARINT_CONTINUATION) {
    z = Math.floor(z / VARINT_CONTINUATION);
    bytes++;
  }
  return bytes;
}

/** A two-byte zigzag length (ASCII strings of 64 to 8191 units) at `at`. */
function patchLength(out: Buffer, at: number, n: number): void {
  const zigzag = n << 1;
  out[at] = (zigzag & VARINT_PAYLOAD_MASK) | VARINT_CONTINUATION;
  out[at + 1] = zigzag >> VARINT_PAYLOAD_BITS;
}

/**
 * Builds a record's encoding as a string of one character per byte, for records whose strings are all ASCII (most
 * events): the strings themselves, one-byte lengths and union indexes as the characters of their codes, NULs in
 * the place of the varints with bytes of 0x80 and more (a string's two-byte length, the timestamp), which are
 * written over once the text is: `patches` gets, per varint, its offset (`base` plus its place in the text), its
 * kind and its value. Null for a value of an unexpected type or a string of 8,192 units or more.
 */
type TextBuilder = (record: unknown, base: number, patches: number[]) => string | null;

/** Patch kinds: a two-byte string length, a long. */
const PATCH_LENGTH = 0;
const PATCH_LONG = 1;
/** Entries per patch in the patch list: offset, kind, value. */
const PATCH_ENTRIES = 3;

function compileTextBuilder(type: avro.types.RecordType): TextBuilder {
  let body = 'let text = "";\nlet v;\nlet n;\n';
  // A union's index and a one-byte length come from one table of both (one string fewer to make per value).
  const tables: (readonly string[])[] = [];
  for (const field of type.fields) {
    const kind = fieldKind(field.type);
    body += `v = record.${field.name};\n`;
    /** A string after `index` (a union index, or ''): its length now, or room for a two-byte one patched in after. */
    const string = (index: string) => {
      const table = `lengths${tables.length}`;
      tables.push(index === '' ? ONE_BYTE_LENGTHS : ONE_BYTE_LENGTHS.map((length) => index + length));
      body +=
        'if (typeof v !== "string") return null;\n' +
        'n = v.length;\n' +
        `if (n < ${ONE_BYTE_LENGTH}) text += ${table}[n] + v;\n` +
        `else if (n < ${TWO_BYTE_LENGTH_LIMIT}) {\n` +
        `  patches.push(base + text.length${index === '' ? '' : ' + 1'}, ${PATCH_LENGTH}, n);\n` +
        `  text += ${JSON.stringify(`${index}\u0000\u0000`)} + v;\n} else return null;\n`;
    };
    if (kind === STRING) string('');
    else if (kind === NULLABLE_STRING) {
      const branches = (field.type as avro.types.UnwrappedUnionType).types.map((branch) => branch.typeName);
      const nullIndex = JSON.stringify(String.fromCharCode(2 * branches.indexOf('null')));
      body += `if (v === null) text += ${nullIndex};\nelse {\n`;
      string(String.fromCharCode(2 * branches.indexOf('string')));
      body += '}\n';
    } else if (kind === LONG) {
      body +=
        'if (!Number.isInteger(v) || Math.abs(v) > maxLong) return null;\n' +
        `patches.push(base + text.length, ${PATCH_LONG}, v);\n` +
        'text += placeholders[longBytes(v)];\n';
    } else {
      body += 'if (typeof v !== "boolean") return null;\ntext += v ? "\\u0001" : "\\u0000";\n';
    }
  }
  const compile = new Function(
    'tables',
    'placeholders',
    'longBytes',
    'maxLong',
    tables.map((_, k) => `const lengths${k} = tables[${k}];\n`).join('') +
      `return function build${type.name!.split('.').pop()}Text(record, base, patches) {\n${body}return text;\n};`,
  );
  return compile(tables, PLACEHOLDERS, longBytes, MAX_LONG) as TextBuilder;
}

/**
 * Writes `text` (built by a TextBuilder, `patches` its varints) at `at` of `out`, which has room for it, with one
 * TextEncoder#encodeInto; false when it was not all ASCII (then what was written is to be written over).
 */
function writeText(out: Buffer, at: number, text: string, patches: readonly number[]): boolean {
  const length = text.length;
  const done = encoder.encodeInto(text, new Uint8Array(out.buffer, out.byteOffset + at, length));
  if (done.read !== length || done.written !== length) return false;
  for (let p = 0; p < patches.length; p += PATCH_ENTRIES) {
    if (patches[p + 1] === PATCH_LENGTH) patchLength(out, at + patches[p], patches[p + 2]);
    else writeLong(out, at + patches[p], patches[p + 2]);
  }
  return true;
}

/** A record writer that writes ASCII records as one string (compileTextBuilder), any other with `slow`. */
function textWriter(build: TextBuilder, slow: RecordWriter): RecordWriter {
  const patches: number[] = [];
  return (record, out, at) => {
    patches.length = 0;
    const text = build(record, 0, patches);
    if (text === null) return slow(record, out, at);
    if (at + text.length > out.length) return NOT_WRITTEN;
    return writeText(out, at, text, patches) ? at + text.length : slow(record, out, at);
  };
}

/** The compiled writer's kind for a field type, or null when it leaves the type to avsc. */
function fieldKind(type: avro.Type): number | null {
  if (type instanceof avro.types.StringType) return STRING;
  if (type instanceof avro.types.LongType) return LONG;
  if (type instanceof avro.types.BooleanType) return BOOLEAN;
  if (type instanceof avro.types.UnwrappedUnionType && type.types.length === 2) {
    const names = type.types.map((branch) => branch.typeName).sort();
    if (names[0] === 'null' && names[1] === 'string') {
      return NULLABLE_STRING;
    }
  }
  return null;
}

/**
 * A string's Avro encoding (zigzag varint byte length, UTF-8 bytes) at `pos`; `out` has room for 3 bytes per UTF-16
 * unit and more. ASCII (the common case) has as many bytes as units, so its length is known before it is written: a
 * short string is copied in JavaScript (no call into the runtime), a longer one by TextEncoder#encodeInto, whose
 * count of bytes tells whether it was ASCII. Anything else: rewritten by the general path.
 */
function writeString(out: Buffer, pos: number, text: string): number {
  const n = text.length;
  if (n <= JS_COPY_MAX_UNITS) {
    let at = pos + 1;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= VARINT_CONTINUATION) return writeUtf8String(out, pos, text);
      out[at++] = c;
    }
    out[pos] = n << 1;
    return at;
  }
  if (n >= TWO_BYTE_LENGTH_LIMIT) return writeUtf8String(out, pos, text);
  const header = n < ONE_BYTE_LENGTH ? 1 : 2;
  const room = new Uint8Array(out.buffer, out.byteOffset + pos + header, UTF8_MAX_BYTES_PER_UNIT * n);
  if (encoder.encodeInto(text, room).written !== n) return writeUtf8String(out, pos, text);
  const zigzag = n << 1;
  if (header === 1) out[pos] = zigzag;
  else {
    out[pos] = (zigzag & VARINT_PAYLOAD_MASK) | VARINT_CONTINUATION;
    out[pos + 1] = zigzag >> VARINT_PAYLOAD_BITS;
  }
  return pos + header + n;
}

/** avsc's steps (Tap#writeString): the byte length, then Buffer#utf8Write or, for short strings, its own loop. */
function writeUtf8String(out: Buffer, pos: number, text: string): number {
  const bytes = Buffer.byteLength(text);
  let at = writeLong(out, pos, bytes);
  if (bytes > AVSC_NATIVE_WRITE_BYTES) return at + out.write(text, at, bytes, 'utf8');
  // biome-ignore-start lint/style/noMagicNumbers: UTF-8 bit layout, as avsc writes it (a lone surrogate as itself)
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) out[at++] = c;
    else if (c < 0x800) {
      out[at++] = (c >> 6) | 0xc0;
      out[at++] = (c & 0x3f) | 0x80;
    } else if ((c & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c & 0x03ff) << 10) + (text.charCodeAt(++i) & 0x03ff);
      out[at++] = (c >> 18) | 0xf0;
      out[at++] = ((c >> 12) & 0x3f) | 0x80;
      out[at++] = ((c >> 6) & 0x3f) | 0x80;
      out[at++] = (c & 0x3f) | 0x80;
    } else {
      out[at++] = (c >> 12) | 0xe0;
      out[at++] = ((c >> 6) & 0x3f) | 0x80;
      out[at++] = (c & 0x3f) | 0x80;
    }
  }
  // biome-ignore-end lint/style/noMagicNumbers: UTF-8 bit layout, as avsc writes it (a lone surrogate as itself)
  return at;
}

/** A long as a zigzag varint (an integer of at most MAX_LONG: exact in floating point). */
function writeLong(out: Buffer, pos: number, n: number): number {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  let at = pos;
  while (z >= VARINT_CONTINUATION) {
    out[at++] = (z % VARINT_CONTINUATION) | VARINT_CONTINUATION;
    z = Math.floor(z / VARINT_CONTINUATION);
  }
  out[at++] = z;
  return at;
}

/** The bytes of a bundle of `count` items whose encodings are `parts` (`bytes` long together). */
export function frameBundle(parts: readonly Buffer[], bytes: number): Buffer {
  const count = parts.length;
  const header = zigzagVarintLength(count);
  const out = Buffer.allocUnsafe(header + bytes + 1);
  let at = writeZigzagVarint(out, count);
  for (const part of parts) at += part.copy(out, at);
  out[at] = 0;
  return out;
}

/**
 * The item count a bundle's bytes announce in their first array block (Avro allows several blocks; a negative
 * count is followed by the block's byte size). Cheap: reads one varint. Null when the bytes do not start with one.
 */
export function announcedItems(buffer: Buffer): number | null {
  let value = 0;
  let shift = 0;
  for (let i = 0; i < buffer.length && i < VARINT_MAX_BYTES; i++) {
    const byte = buffer[i];
    value |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return Math.abs((value >>> 1) ^ -(value & 1));
    shift += VARINT_PAYLOAD_BITS;
  }
  return null;
}

function zigzagVarintLength(n: number): number {
  let z = n * 2;
  let length = 1;
  while (z >= VARINT_CONTINUATION) {
    z = Math.floor(z / VARINT_CONTINUATION);
    length++;
  }
  return length;
}

function writeZigzagVarint(out: Buffer, n: number): number {
  let z = n * 2;
  let at = 0;
  while (z >= VARINT_CONTINUATION) {
    out[at++] = (z & 0x7f) | 0x80;
    z = Math.floor(z / VARINT_CONTINUATION);
  }
  out[at++] = z;
  return at;
}
