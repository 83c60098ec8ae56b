/**
 * Remote-write 1.0 bodies: `Content-Type: application/x-protobuf` (a `proto=` parameter, when given, must name
 * prometheus.WriteRequest), `Content-Encoding: snappy` (the block format, not the framed one), a WriteRequest
 * decoded by protobufjs from schemas/prometheus (loaded and compiled once, at module load) and snappyjs.
 * The decompressed size is bounded before anything is decompressed: a snappy block starts with its uncompressed
 * length, read here with snappyjs' own reader; beyond the body limit → 413 and no byte is allocated for it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { SnappyDecompressor } from 'snappyjs/snappy_decompressor.js';
import { VigilError } from '../../../shared/errors.ts';

/** Longest header value quoted back in an error. */
const HEADER_EXCERPT_CHARS = 80;
/** The staleness marker's 32-bit words, and the quiet bit an engine may set. */
const STALE_LOW_WORD = 2;
const STALE_HIGH_WORD = 0x7ff0_0000;
const QUIET_NAN_BIT = 0x0008_0000;

const SCHEMA_DIR = fileURLToPath(new URL('../../../schemas/prometheus/', import.meta.url));

export const PROTOBUF_TYPE = 'application/x-protobuf';
/** The `proto` parameter of remote-write 1.0 (the default when absent); 2.0 names io.prometheus.write.v2.Request. */
export const V1_PROTO = 'prometheus.WriteRequest';

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(SCHEMA_DIR, target);
root.loadSync(['remote.proto'], { keepCase: false });
root.resolveAll();

export const WRITE_REQUEST = root.lookupType('prometheus.WriteRequest');

/** MetricMetadata.MetricType, by number. */
export const METADATA_TYPES = [
  'unknown',
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
] as const;
export type MetadataType = (typeof METADATA_TYPES)[number];

/** What protobufjs decodes (int64 as Long or number, absent repeated fields as empty arrays). */
export interface WriteRequestMessage {
  timeseries: TimeSeriesMessage[];
  metadata: { type?: number; metricFamilyName?: string }[];
}
export interface TimeSeriesMessage {
  labels: { name?: string; value?: string }[];
  samples: { value?: number; timestamp?: number | { toNumber(): number } }[];
  histograms: Uint8Array[];
}

/**
 * Refuses what remote-write 1.0 is not, before any byte is decompressed: another protocol version (415), another
 * Content-Encoding (415).
 */
export function checkHeaders(contentType: string | undefined, contentEncoding: string | undefined): void {
  const proto = protoParameter(contentType);
  if (proto !== null && proto !== V1_PROTO) {
    throw new VigilError(
      'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE',
      `Content-Type proto=${proto.slice(0, HEADER_EXCERPT_CHARS)} is not supported: vigil receives remote-write 1.0 ` +
        `(proto=${V1_PROTO}); configure the sender with protobuf_message: prometheus.WriteRequest`,
    );
  }
  const encoding = contentEncoding?.trim().toLowerCase();
  if (encoding !== 'snappy') {
    const given =
      encoding === undefined || encoding === ''
        ? 'none'
        : JSON.stringify(contentEncoding!.slice(0, HEADER_EXCERPT_CHARS));
    throw new VigilError(
      'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE',
      `Content-Encoding must be snappy (the block format) for remote-write, got ${given}`,
    );
  }
}

function protoParameter(contentType: string | undefined): string | null {
  if (contentType === undefined) return null;
  for (const part of contentType.split(';').slice(1)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim().toLowerCase() === 'proto')
      return part
        .slice(eq + 1)
        .trim()
        .replace(/^"|"$/g, '');
  }
  return null;
}

/** The block's declared uncompressed length, checked against limitBytes (→ 413) before decompressing. */
export function uncompressedLength(compressed: Uint8Array, limitBytes: number): number {
  const length = new SnappyDecompressor(compressed).readUncompressedLength();
  if (length < 0)
    throw new VigilError('VIGIL_ERR_MALFORMED_BODY', 'the body is not a snappy block: its length preamble is invalid');
  if (length > limitBytes) {
    throw new VigilError(
      'VIGIL_ERR_PAYLOAD_TOO_LARGE',
      `the snappy body declares ${length} uncompressed bytes; ` +
        `at most ${limitBytes} are accepted (INGEST_BODY_LIMIT_BYTES): ` +
        "lower the sender's max_samples_per_send",
    );
  }
  return length;
}

/** Decompresses a snappy block already checked by uncompressedLength; its output cannot outgrow that length. */
export function decompress(compressed: Buffer, limitBytes: number): Buffer {
  try {
    return snappy.uncompress(compressed, limitBytes);
  } catch (error) {
    throw new VigilError(
      'VIGIL_ERR_MALFORMED_BODY',
      `the body is not a valid snappy block: ${(error as Error).message}`,
    );
  }
}

/** Decodes a WriteRequest; anything undecodable → 400 VIGIL_ERR_MALFORMED_BODY (Prometheus does not retry a 400). */
export function decodeWriteRequest(bytes: Uint8Array): WriteRequestMessage {
  try {
    return WRITE_REQUEST.decode(bytes) as unknown as WriteRequestMessage;
  } catch (error) {
    throw new VigilError(
      'VIGIL_ERR_MALFORMED_BODY',
      `the body is not a valid protobuf prometheus.WriteRequest: ${(error as Error).message}`,
    );
  }
}

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const [LOW, HIGH] = LITTLE_ENDIAN ? [0, 1] : [1, 0];

/**
 * Prometheus' staleness marker: the NaN with bits 0x7ff0000000000002. The engine may quiet a signalling NaN when it
 * copies it (0x7ff8000000000002), so the quiet bit is ignored; an ordinary NaN (0x7ff8000000000000) is not one.
 */
export function isStaleMarker(value: number): boolean {
  if (!Number.isNaN(value)) return false;
  F64[0] = value;
  return U32[LOW] === STALE_LOW_WORD && (U32[HIGH] & ~QUIET_NAN_BIT) === STALE_HIGH_WORD;
}
