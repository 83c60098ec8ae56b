/**
 * OTLP/HTTP bodies in and out, decoded by protobufjs from the .proto files under schemas/otlp (loaded and compiled
 * once, at module load). Two encodings, as the OTLP/HTTP specification defines them:
 *   application/x-protobuf  the binary protobuf encoding of Export<Signal>ServiceRequest
 *   application/json        the proto3 JSON mapping with OTLP's exceptions: trace and span ids are hex strings (not
 *                           base64), enums are integers, keys lowerCamelCase, 64-bit integers strings or numbers,
 *                           unknown fields ignored
 * Answers (ExportServiceResponse, or google.rpc.Status for 4xx/5xx) go out in the request's encoding.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { VigilError } from '../../../shared/errors.ts';
import { isPlainObject } from '../../../shared/schemas/validate.ts';

const SCHEMA_DIR = fileURLToPath(new URL('../../../schemas/otlp/', import.meta.url));

export type Signal = 'logs' | 'traces' | 'metrics';
export type Encoding = 'protobuf' | 'json';

export const PROTOBUF_TYPE = 'application/x-protobuf';
export const JSON_TYPE = 'application/json';

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(SCHEMA_DIR, target);
root.loadSync(['logs.proto', 'trace.proto', 'metrics.proto', 'status.proto'], { keepCase: false });
root.resolveAll();

interface SignalTypes {
  request: protobuf.Type;
  response: protobuf.Type;
  partial: protobuf.Type;
  /** The field of the partial success that counts rejected items. */
  rejectedField: string;
}

const TYPES: Record<Signal, SignalTypes> = {
  logs: types('opentelemetry.proto.logs.v1', 'Logs', 'rejectedLogRecords'),
  traces: types('opentelemetry.proto.trace.v1', 'Trace', 'rejectedSpans'),
  metrics: types('opentelemetry.proto.metrics.v1', 'Metrics', 'rejectedDataPoints'),
};
const STATUS = root.lookupType('google.rpc.Status');

function types(pkg: string, name: string, rejectedField: string): SignalTypes {
  return {
    request: root.lookupType(`${pkg}.Export${name}ServiceRequest`),
    response: root.lookupType(`${pkg}.Export${name}ServiceResponse`),
    partial: root.lookupType(`${pkg}.Export${name}PartialSuccess`),
    rejectedField,
  };
}

/** The protobufjs types of a signal's request and response (tests and benches encode requests with them). */
export function signalTypes(signal: Signal): { request: protobuf.Type; response: protobuf.Type } {
  return { request: TYPES[signal].request, response: TYPES[signal].response };
}

export const STATUS_TYPE = STATUS;

/** The encoding a Content-Type names, or null for any other type. */
export function encodingOf(contentType: string | undefined): Encoding | null {
  if (contentType === undefined) return null;
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type === PROTOBUF_TYPE) return 'protobuf';
  if (type === JSON_TYPE) return 'json';
  return null;
}

/**
 * Decodes an export request into protobufjs message objects (64-bit integers as Long, bytes as Uint8Array, enums
 * as numbers, oneofs with a virtual property naming the field set). Anything undecodable → 400
 * VIGIL_ERR_MALFORMED_BODY (SDKs do not retry a 400), including a nesting so deep that decoding runs out of stack.
 */
export function decodeRequest(signal: Signal, encoding: Encoding, bytes: Buffer): unknown {
  const type = TYPES[signal].request;
  try {
    if (encoding === 'protobuf') return type.decode(bytes);
    const text = bytes.toString('utf8');
    if (text.trim() === '') return type.fromObject({});
    const value: unknown = JSON.parse(text);
    if (!isPlainObject(value)) throw new TypeError(`the body must be a JSON object (${type.name})`);
    idsFromHex(signal, value);
    return type.fromObject(value);
  } catch (error) {
    const what = encoding === 'protobuf' ? 'protobuf' : 'OTLP JSON';
    throw new VigilError(
      'VIGIL_ERR_MALFORMED_BODY',
      `the body is not a valid ${what} ${type.name}: ${(error as Error).message}`,
    );
  }
}

/** An export answer: empty when everything was accepted, else a partial success with the rejected count. */
export function encodeResponse(signal: Signal, encoding: Encoding, rejected: number, message: string): Buffer | string {
  const { response, partial, rejectedField } = TYPES[signal];
  if (encoding === 'json') {
    if (rejected === 0 && message === '') return '{}';
    return JSON.stringify({ partialSuccess: { [rejectedField]: rejected, errorMessage: message } });
  }
  const body =
    rejected === 0 && message === ''
      ? {}
      : { partialSuccess: partial.create({ [rejectedField]: rejected, errorMessage: message }) };
  return Buffer.from(response.encode(response.create(body)).finish());
}

/** A google.rpc.Status for a 4xx/5xx answer. */
export function encodeStatus(encoding: Encoding, code: number, message: string): Buffer | string {
  if (encoding === 'json') return JSON.stringify({ code, message });
  return Buffer.from(STATUS.encode(STATUS.create({ code, message })).finish());
}

const HEX_ID = /^(?:[0-9a-fA-F]{2})*$/;
/** An id that is not hex becomes a 1-byte id, which the mapping rejects (per item) as having the wrong length. */
const INVALID_ID = Uint8Array.of(0);

/**
 * OTLP JSON carries trace and span ids as hex where proto3 JSON would carry base64: turns them into bytes before
 * fromObject, at the places the specification lists (log records; spans, their parents and links).
 */
function idsFromHex(signal: Signal, request: Record<string, unknown>): void {
  if (signal === 'metrics') return;
  const [resourceKey, scopeKey, itemKey] =
    signal === 'logs' ? ['resourceLogs', 'scopeLogs', 'logRecords'] : ['resourceSpans', 'scopeSpans', 'spans'];
  for (const resource of arrayAt(request, resourceKey)) {
    for (const scope of arrayAt(resource, scopeKey)) {
      for (const item of arrayAt(scope, itemKey)) {
        if (!isPlainObject(item)) continue;
        convertIds(item, ['traceId', 'spanId', 'parentSpanId']);
        for (const link of arrayAt(item, 'links')) if (isPlainObject(link)) convertIds(link, ['traceId', 'spanId']);
      }
    }
  }
}

function arrayAt(value: unknown, key: string): unknown[] {
  if (!isPlainObject(value)) return [];
  const inner = value[key];
  return Array.isArray(inner) ? inner : [];
}

function convertIds(item: Record<string, unknown>, keys: string[]): void {
  for (const key of keys) {
    const id = item[key];
    if (typeof id === 'string') item[key] = HEX_ID.test(id) ? Buffer.from(id, 'hex') : INVALID_ID;
  }
}
