/**
 * OTLP's common values as vigil's JSON: AnyValue (string, bool, int64, double, array, key-value list, bytes),
 * attribute lists, nanosecond timestamps (fixed64, decoded as Long) and trace/span ids (bytes → lowercase hex).
 */
import type Long from 'long';

import { NS_PER_MS, NS_PER_MS_BIGINT } from '../../../shared/units.ts';

/** 2^32, and its split used to divide a 64-bit count of nanoseconds exactly: 2^32 = 4294·10^6 + 967296. */
const UINT32_RANGE = 4_294_967_296;
const UINT32_RANGE_MILLIONS = 4294;
const UINT32_RANGE_REMAINDER = 967_296;
/** OTLP trace ids are 16 bytes, span ids 8. */
export const TRACE_ID_BYTES = 16;
export const SPAN_ID_BYTES = 8;

/** The shapes protobufjs decodes into (only what vigil reads). */
export interface KeyValue {
  key: string;
  value?: AnyValue | null;
}

export interface AnyValue {
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  intValue?: Long | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] | null } | null;
  kvlistValue?: { values?: KeyValue[] | null } | null;
  bytesValue?: Uint8Array;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type Nanos = Long | number | string | null | undefined;

/**
 * An AnyValue as JSON: int64 beyond 2^53 as a decimal string, non-finite doubles as strings ("NaN", "Infinity"),
 * bytes as base64. Walks at most `maxDepth` levels: deeper values become null, and the item carrying them is then
 * refused by the validator's own depth rule (INGEST_MAX_DEPTH) because the levels above still exceed it.
 */
export function anyValueToJson(value: AnyValue | null | undefined, maxDepth: number, depth = 1): Json {
  if (value === null || value === undefined || depth > maxDepth) return null;
  // Most attributes are strings: skip protobufjs' oneof getter (it tests every member) for them.
  if (Object.hasOwn(value, 'stringValue') && typeof value.stringValue === 'string') return value.stringValue;
  switch (value.value) {
    case 'stringValue':
      return value.stringValue ?? '';
    case 'boolValue':
      return value.boolValue === true;
    case 'intValue':
      return int64ToJson(value.intValue);
    case 'doubleValue': {
      const n = value.doubleValue ?? 0;
      return Number.isFinite(n) ? n : String(n);
    }
    case 'arrayValue': {
      const out: Json[] = [];
      for (const inner of value.arrayValue?.values ?? []) out.push(anyValueToJson(inner, maxDepth, depth + 1));
      return out;
    }
    case 'kvlistValue':
      return attributesToJson(value.kvlistValue?.values, maxDepth, depth);
    case 'bytesValue':
      return Buffer.from(value.bytesValue ?? []).toString('base64');
    default:
      return null;
  }
}

/** Attributes as a JSON object; a repeated key keeps its last value. */
export function attributesToJson(
  attributes: KeyValue[] | null | undefined,
  maxDepth: number,
  depth = 1,
  into: Record<string, Json> = {},
): Record<string, Json> {
  if (!attributes) return into;
  for (const kv of attributes) into[kv.key] = anyValueToJson(kv.value, maxDepth, depth + 1);
  return into;
}

/** The string form of an attribute for a metric label: strings as they are, anything else as JSON. */
export function anyValueToLabel(value: AnyValue | null | undefined, maxDepth: number): string {
  const json = anyValueToJson(value, maxDepth);
  return typeof json === 'string' ? json : JSON.stringify(json);
}

function int64ToJson(value: Long | number | undefined): number | string {
  if (value === undefined) return 0;
  if (typeof value === 'number') return value;
  const n = value.toNumber();
  return Number.isSafeInteger(n) ? n : value.toString();
}

/** Nanoseconds since the epoch as epoch milliseconds (fractional part dropped); 0 / absent → null. */
export function nanosToMillis(value: Nanos): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value === 0 ? null : Math.floor(value / NS_PER_MS);
  if (typeof value === 'string') {
    if (!/^\d{1,20}$/.test(value)) return Math.floor(Number(value) / NS_PER_MS);
    return value === '0' ? null : Number(BigInt(value) / NS_PER_MS_BIGINT);
  }
  if (value.high === 0 && value.low === 0) return null;
  // Exactly floor((high·2^32 + low) / 10^6), with 2^32 = 4294·10^6 + 967296: every term stays below 2^53.
  const high = value.high >>> 0;
  return high * UINT32_RANGE_MILLIONS + Math.floor((high * UINT32_RANGE_REMAINDER + (value.low >>> 0)) / NS_PER_MS);
}

/** end − start in nanoseconds (exact below 2^53 ns, i.e. 104 days); never negative. */
export function nanosBetween(start: Nanos, end: Nanos): number {
  const a = splitNanos(start);
  const b = splitNanos(end);
  const diff = (b[0] - a[0]) * UINT32_RANGE + (b[1] - a[1]);
  return diff > 0 ? diff : 0;
}

function splitNanos(value: Nanos): [number, number] {
  if (value === null || value === undefined) return [0, 0];
  if (typeof value === 'object') return [value.high >>> 0, value.low >>> 0];
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) {
    const n = BigInt(value);
    return [Number(n >> 32n), Number(n & 0xffffffffn)];
  }
  const n = Number(value);
  const high = Math.floor(n / UINT32_RANGE);
  return [high, n - high * UINT32_RANGE];
}

/** The decimal text of a nanosecond timestamp (exact). */
export function nanosToString(value: Nanos): string {
  if (value === null || value === undefined) return '0';
  return typeof value === 'object' ? value.toUnsigned().toString() : String(value);
}

/**
 * An id (bytes) as lowercase hex: '' when absent or empty, else it must have `bytes` bytes and not be all zeros
 * (the specification's invalid id); otherwise an Error naming the rule.
 */
export function idToHex(value: Uint8Array | null | undefined, bytes: number, field: string): string | Error {
  // protobufjs' default for an absent bytes field is an empty array.
  if (value === null || value === undefined || (value as { length?: unknown }).length === 0) return '';
  // OTLP JSON may put anything there, and protobufjs passes array-likes through.
  if (!(value instanceof Uint8Array)) return new Error(`${field} must be ${bytes * 2} hex digits`);
  if (value.length !== bytes)
    return new Error(`${field} must be ${bytes} bytes (${bytes * 2} hex digits), got ${value.length}`);
  let zero = true;
  for (let i = 0; i < value.length && zero; i++) zero = value[i] === 0;
  if (zero) return new Error(`${field} must not be all zeros`);
  // protobufjs hands out Buffers (views of the request) in Node: no copy needed for those.
  return (Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)).toString(
    'hex',
  );
}
