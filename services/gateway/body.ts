/**
 * Request bodies of the ingest routes, in the forms producers send:
 *   Content-Type   application/json (one object, a JSON array, or {"events"|"metrics": [...]})
 *                  application/x-ndjson or application/ndjson (one JSON value per line; blank lines are skipped)
 *   Content-Encoding  identity (or none) | gzip | x-gzip
 * The body limit applies to the bytes received AND to the decompressed bytes (a gzip bomb stops at the limit:
 * zlib's maxOutputLength aborts inflation there, on the thread pool, so memory stays bounded), → 413.
 * Parsing is plain JSON.parse, not Fastify's schema or secure-json-parse: the hand-written validators in
 * shared/schemas check every field, and the parsed objects are never merged into other objects.
 */
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { VigilError } from '../../shared/errors.ts';

const gunzip = promisify(zlib.gunzip);

export const JSON_TYPES = ['application/json'];
export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson'];

/** One NDJSON line that is not valid JSON: it becomes a rejected item, the other lines still count. */
export class MalformedLine {
  constructor(readonly message: string) {}
}

export type ParsedBody = { form: 'json'; value: unknown } | { form: 'ndjson'; items: unknown[] };

/** Undoes Content-Encoding; the result is at most limit bytes or the call throws VIGIL_ERR_PAYLOAD_TOO_LARGE. */
export async function decodeContent(encoding: string | undefined, raw: Buffer, limit: number): Promise<Buffer> {
  const name = encoding?.trim().toLowerCase();
  if (name === undefined || name === '' || name === 'identity') return raw;
  if (name !== 'gzip' && name !== 'x-gzip') {
    throw new VigilError('VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${JSON.stringify(encoding)} is not supported; send identity or gzip`);
  }
  try {
    return await gunzip(raw, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new VigilError('VIGIL_ERR_PAYLOAD_TOO_LARGE', `the decompressed body exceeds the limit of ${limit} bytes`);
    }
    throw new VigilError('VIGIL_ERR_MALFORMED_BODY', `the body is not valid gzip: ${(error as Error).message}`);
  }
}

export function parseBody(contentType: string | undefined, bytes: Buffer): ParsedBody {
  const text = bytes.toString('utf8');
  if (isNdjson(contentType)) return { form: 'ndjson', items: parseNdjson(text) };
  try {
    return { form: 'json', value: JSON.parse(text) };
  } catch (error) {
    const reason = text.trim() === '' ? 'the body is empty' : (error as Error).message;
    throw new VigilError('VIGIL_ERR_MALFORMED_BODY', `malformed JSON body: ${reason}`);
  }
}

function isNdjson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return NDJSON_TYPES.includes(type);
}

function parseNdjson(text: string): unknown[] {
  const items: unknown[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim() === '') continue;
    try {
      items.push(JSON.parse(line));
    } catch (error) {
      items.push(new MalformedLine(`is not valid JSON: ${(error as Error).message}`));
    }
  }
  if (items.length === 0) throw new VigilError('VIGIL_ERR_MALFORMED_BODY', 'the NDJSON body has no lines');
  return items;
}
