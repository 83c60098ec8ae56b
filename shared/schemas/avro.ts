/**
 * Avro codecs compiled once from schemas/*.avsc (the current reader schemas) and schemas/history/*.avsc (every
 * schema ever written to a topic). Each record carries the header `vigil-schema: <full name>@<md5 fingerprint hex>`
 * naming its writer schema; the reader resolves writer → current, so records written before a field was added
 * stay readable.
 */
import fs from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import { ROOT_DIR } from '../config.ts';

export interface Codec {
  /** `<full name>@<fingerprint>`: the value of the vigil-schema header for records this codec writes. */
  readonly schemaId: string;
  encode(value: object): Buffer;
  /** Decodes with the writer schema named by schemaId; throws when the id is unknown or the bytes are invalid. */
  decode(buffer: Buffer, schemaId: string): unknown;
}

const SCHEMA_DIR = path.join(ROOT_DIR, 'schemas');

function readSchemas(dir: string): avro.Type[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .sort()
    .map((f) => avro.Type.forSchema(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))));
}

function schemaIdOf(type: avro.Type): string {
  return `${type.name}@${type.fingerprint('md5').toString('hex')}`;
}

function buildCodec(reader: avro.Type, writers: avro.Type[]): Codec {
  const schemaId = schemaIdOf(reader);
  const resolvers = new Map<string, avro.Resolver | null>([[schemaId, null]]);
  for (const writer of writers) {
    if (writer.name !== reader.name) continue;
    const id = schemaIdOf(writer);
    if (id !== schemaId) resolvers.set(id, reader.createResolver(writer));
  }
  return {
    schemaId,
    encode: (value) => reader.toBuffer(value),
    decode(buffer, id) {
      const resolver = resolvers.get(id);
      if (resolver === undefined) throw new Error(`unknown schema ${id} (known: ${[...resolvers.keys()].join(', ')})`);
      return resolver === null ? reader.fromBuffer(buffer) : reader.fromBuffer(buffer, resolver);
    },
  };
}

/** Codecs keyed by short name (`Event`, `Metric`). */
export function loadCodecs(dir = SCHEMA_DIR): ReadonlyMap<string, Codec> {
  const history = readSchemas(path.join(dir, 'history'));
  const codecs = new Map<string, Codec>();
  for (const reader of readSchemas(dir)) {
    const shortName = reader.name!.split('.').pop()!;
    codecs.set(shortName, buildCodec(reader, history));
  }
  return codecs;
}
