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
  return {
    name: reader.name!,
    schemaId,
    itemsField,
    encode: (value) => reader.toBuffer(value),
    encodeView: (value) => slab.encode(reader, value),
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

  encode(type: avro.Type, value: unknown): Buffer {
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
