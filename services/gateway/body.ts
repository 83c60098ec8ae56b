/**
 * Request bodies of the ingest routes, in the forms producers send:
 *   Content-Type   application/json (one object, a JSON array, or {"events"|"metrics": [...]})
 *                  application/x-ndjson or application/ndjson (one JSON value per line; blank lines are skipped)
 *   Content-Encoding  identity (or none) | gzip | x-gzip
 *
 * Every request's work is bounded before it is done, so that a small request cannot hold the event loop:
 *   bytes   at most `maxBytes` on the wire and once decompressed (→ 413). gzip is inflated as a stream, chunk by
 *           chunk, and inflation stops at the first byte past the limit or as soon as the splitter refuses the body.
 *   items   arrays, batch objects and NDJSON are split into items as the bytes arrive (body-split.ts: string-
 *           and depth-aware, a counter for nesting, never recursion); the item past `maxItems` ends the request
 *           (→ 413): nothing after it is read, inflated or parsed. A JSON body too short to hold more tokens than
 *           one item may is parsed in one call.
 *   per item  JSON.parse runs on one item at a time, once the whole body was read within the limits (a refused
 *           body is scanned, never parsed), and only on items with at most `maxItemValues` structural
 *           tokens (`{`, `[` and `,` outside strings; a value costs JSON.parse far more than a byte of string, so
 *           `[{},{},…]` is the costly shape). A larger item is rejected unparsed: an error for that item of a batch
 *           (the others still count), 400 for a single-item body.
 * Parsing is plain JSON.parse, not Fastify's schema or secure-json-parse: the hand-written validators in
 * shared/schemas check every field, and the parsed objects are never merged into other objects.
 */
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { VigilError } from '../../shared/errors.ts';
import { createSplitter, type BatchShape, type BodyLimits, type ParsedBody } from './body-split.ts';

export {
  JSON_TYPES,
  NDJSON_TYPES,
  RejectedItem,
  type BatchShape,
  type BodyLimits,
  type ParsedBody,
} from './body-split.ts';

/** Inflated bytes per step: fewer round trips to the thread pool than zlib's 16 KiB, still a short parse per step. */
const INFLATE_CHUNK_BYTES = 65_536;

export interface BodyOptions {
  contentType: string | undefined;
  encoding: string | undefined;
  limits: BodyLimits;
  shape: BatchShape;
  /** Told the decoded size as it grows (the load shedder accounts for it; it may throw to refuse the request). */
  onDecodedBytes?: (bytes: number) => void;
}

/**
 * Reads, inflates and splits a request body as it streams in. On refusal the rest of the body is read and dropped
 * (never inflated), so that the answer can still be written on the connection.
 */
export async function readBody(source: Readable, opts: BodyOptions): Promise<ParsedBody> {
  const { maxBytes } = opts.limits;
  const inflater = inflaterFor(opts.encoding);
  const splitter = createSplitter(opts.contentType, opts.limits, opts.shape);
  return await new Promise<ParsedBody>((resolve, reject) => {
    let wire = 0;
    let decoded = 0;
    let settled = false;
    const finish = (error: unknown, body?: ParsedBody) => {
      if (settled) return;
      settled = true;
      source.off('data', onWire);
      source.off('end', onWireEnd);
      source.off('error', onWireError);
      if (inflater) {
        inflater.off('data', onDecoded);
        inflater.destroy();
      }
      if (error) {
        drain(source, maxBytes);
        reject(error);
      } else resolve(body!);
    };
    const onDecoded = (chunk: Buffer) => {
      try {
        decoded += chunk.length;
        if (decoded > maxBytes) {
          const why = `the decompressed body exceeds the limit of ${maxBytes} bytes`;
          throw new VigilError('VIGIL_ERR_PAYLOAD_TOO_LARGE', why);
        }
        opts.onDecodedBytes?.(decoded);
        splitter.push(chunk);
      } catch (error) {
        finish(error);
      }
    };
    const onDecodedEnd = () => {
      try {
        finish(null, splitter.end());
      } catch (error) {
        finish(error);
      }
    };
    const onWire = (chunk: Buffer) => {
      wire += chunk.length;
      if (wire > maxBytes) return finish(tooLarge(maxBytes));
      if (!inflater) return onDecoded(chunk);
      if (!inflater.write(chunk)) {
        source.pause();
        inflater.once('drain', () => settled || source.resume());
      }
    };
    const onWireEnd = () => (inflater ? inflater.end() : onDecodedEnd());
    const onWireError = (error: Error) => finish(error);
    if (inflater) {
      inflater.on('data', onDecoded);
      inflater.on('end', onDecodedEnd);
      inflater.on('error', (error) => {
        finish(new VigilError('VIGIL_ERR_MALFORMED_BODY', `the body is not valid gzip: ${error.message}`));
      });
    }
    source.on('data', onWire);
    source.on('end', onWireEnd);
    source.on('error', onWireError);
  });
}

/**
 * Undoes Content-Encoding of a body read whole (the protocol adapters: OTLP's protobuf is not split into items);
 * the result is at most `limit` bytes or the call throws VIGIL_ERR_PAYLOAD_TOO_LARGE. zlib inflates it on the
 * thread pool, stopping at the limit, so a bomb costs at most `limit` bytes and no event-loop time.
 */
export async function decodeContent(encoding: string | undefined, raw: Buffer, limit: number): Promise<Buffer> {
  const name = encoding?.trim().toLowerCase();
  if (name === undefined || name === '' || name === 'identity') return raw;
  if (name !== 'gzip' && name !== 'x-gzip') {
    const why = `Content-Encoding ${JSON.stringify(encoding)} is not supported; send identity or gzip`;
    throw new VigilError('VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE', why);
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

const gunzip = promisify(zlib.gunzip);

/**
 * After a refusal the rest of the body is read and dropped, never inflated nor parsed, so that the connection can
 * carry the answer (and the next request); a client that goes on sending past maxBytes more loses its connection.
 */
export function drain(source: Readable, maxBytes: number): void {
  let dropped = 0;
  source.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > maxBytes) source.destroy();
  });
  source.on('error', () => {}); // the answer is already decided
  source.resume();
}

/** Splits a whole body at once (tests, benchmarks): the same rules as readBody, without a Content-Encoding. */
export function parseBody(
  contentType: string | undefined,
  bytes: Buffer,
  limits: BodyLimits,
  shape: BatchShape,
): ParsedBody {
  if (bytes.length > limits.maxBytes) throw tooLarge(limits.maxBytes);
  const splitter = createSplitter(contentType, limits, shape);
  splitter.push(bytes);
  return splitter.end();
}

function tooLarge(maxBytes: number): VigilError {
  return new VigilError('VIGIL_ERR_PAYLOAD_TOO_LARGE', `the body exceeds the limit of ${maxBytes} bytes`);
}

function inflaterFor(encoding: string | undefined): zlib.Gunzip | null {
  const name = encoding?.trim().toLowerCase();
  if (name === undefined || name === '' || name === 'identity') return null;
  if (name !== 'gzip' && name !== 'x-gzip') {
    const why = `Content-Encoding ${JSON.stringify(encoding)} is not supported; send identity or gzip`;
    throw new VigilError('VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE', why);
  }
  return zlib.createGunzip({ chunkSize: INFLATE_CHUNK_BYTES });
}
