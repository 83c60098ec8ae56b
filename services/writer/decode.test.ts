/**
 * The plain-text scan of tags and payload (shared/schemas/json-text.ts) against the full path it stands in for:
 * for every input, decodeEvent with the scan must give exactly what it gives without it (the text JSON.parse'd,
 * bounded, redacted and validated), and the COPY row stored must be byte for byte the same. Inputs: random JSON
 * (unicode, escapes, surrogates, numbers of every form, sensitive and near-sensitive keys, the name/value shape,
 * nesting around the depth bound, random whitespace), the same mutated into malformed text, and hand-written
 * adversarial cases. The generator is seeded: a failure names its seed and input.
 */
import { describe, expect, it } from 'vitest';
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import { createRedactor, DEFAULT_SENSITIVE_KEYS, type Redactor } from '../../shared/redact.ts';
import { DEFAULT_EVENT_LIMITS, type EventLimits, type EventRecord } from '../../shared/schemas/event.ts';
import { createJsonTextScan, NOT_PLAIN } from '../../shared/schemas/json-text.ts';
import { nestsDeeperThan } from '../../shared/schemas/depth.ts';
import { isPlainObject } from '../../shared/schemas/validate.ts';
import { CopyRows, writeEventRow } from './copy-format.ts';
import { decodeEvent, type DecodeContext } from './decode.ts';
import { rng } from '../../test/helpers/random.ts';

/** Thousands of inputs through both paths: seconds on a busy machine. */
const FUZZ_TIMEOUT_MS = 120_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');
const record: ConsumedRecord = {
  offset: '0',
  key: null,
  value: Buffer.alloc(1),
  headers: { 'vigil-schema': 'x', 'vigil-producer': 'gateway' },
  timestamp: String(NOW),
};

function contexts(redact: Redactor, maxDepth: number, limits: EventLimits = DEFAULT_EVENT_LIMITS) {
  const base = { limits, retentionDays: 30, futureGraceSeconds: 600, maxDepth, redact, redactSecrets: true };
  const fast: DecodeContext = { ...base, scan: createJsonTextScan(redact, maxDepth) };
  const full: DecodeContext = { ...base, scan: () => NOT_PLAIN };
  return { fast, full };
}

function item(tags: string, payload: string): Record<string, unknown> {
  return {
    id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d',
    event_type: 'log',
    source: 'api',
    message: 'hello',
    level: 'warn',
    tags,
    payload,
    timestamp: NOW - 1000,
    created_by: 'u1',
    id_given: false,
  };
}

/** Both paths on one (tags, payload) pair: the same outcome, and the same stored row. */
function same(ctx: { fast: DecodeContext; full: DecodeContext }, tags: string, payload: string): void {
  const fast = decodeEvent(item(tags, payload), 'avro', record, ctx.fast);
  const full = decodeEvent(item(tags, payload), 'avro', record, ctx.full);
  expect(fast, JSON.stringify({ tags, payload })).toEqual(full);
  if (fast.ok && full.ok) expect(rowBytes(fast.value).equals(rowBytes(full.value))).toBe(true);
}

function rowBytes(e: EventRecord): Buffer {
  const rows = new CopyRows(16);
  writeEventRow(rows, e);
  return rows.written();
}

const KEYS = [
  'service',
  'env',
  'request_id',
  'author',
  'passenger',
  'password',
  'Authorization',
  'x-api-key',
  'apiKey',
  'db_pass',
  'basicAuth',
  'sessionId',
  'name',
  'key',
  'value',
  'values',
  '__proto__',
  'constructor',
  'clé',
  '日本',
  '😀',
  '',
  'a b',
  'tab\there',
];
const STRINGS = [
  '',
  'x',
  'Authorization',
  'password',
  'héllo',
  '日本語',
  '😀',
  '\ud83d',
  '\ude00',
  'quote"back\\slash',
  'ctl\n\t\r\b\f',
  '\u0000',
  '\u2028\u2029',
  '\u007f',
  'a'.repeat(300),
];

function randomValue(r: () => number, depth: number): unknown {
  const pick = r();
  if (depth > 0 && pick < 0.25) return randomObject(r, depth - 1);
  if (depth > 0 && pick < 0.4) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth - 1));
  if (pick < 0.6) return STRINGS[Math.floor(r() * STRINGS.length)];
  if (pick < 0.75) {
    const forms = [0, -0, 1, -1, 1.5, 1e21, 1e-7, -123456789.125, Number.MAX_SAFE_INTEGER, 5e-324];
    return forms[Math.floor(r() * forms.length)];
  }
  if (pick < 0.85) return r() < 0.5;
  return null;
}

function randomObject(r: () => number, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  const count = Math.floor(r() * 5);
  for (let i = 0; i < count; i++) {
    const key = r() < 0.7 ? KEYS[Math.floor(r() * KEYS.length)] : `k${Math.floor(r() * 100)}`;
    Object.defineProperty(object, key, { value: randomValue(r, depth), enumerable: true, writable: true });
  }
  return object;
}

/** JSON.stringify, then random JSON whitespace between tokens (outside strings). */
function spaced(r: () => number, json: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      out += c;
      if (c === '\\') out += json[++i];
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    if (r() < 0.1) out += [' ', '\t', '\n', '\r'][Math.floor(r() * 4)];
    out += c;
  }
  return r() < 0.1 ? ` ${out}\n` : out;
}

/** Escapes every character of string tokens as \uXXXX (keys included), or some of them. */
function escaped(r: () => number, json: string): string {
  return json.replace(/"((?:[^"\\]|\\.)*)"/g, (whole: string) => {
    if (r() < 0.5) return whole;
    const raw = JSON.parse(whole) as string;
    let out = '"';
    for (const ch of raw) {
      for (let u = 0; u < ch.length; u++) {
        const code = ch.charCodeAt(u);
        out +=
          r() < 0.5 || code < 0x20 || ch === '"' || ch === '\\' ? `\\u${code.toString(16).padStart(4, '0')}` : ch[u];
      }
    }
    return `${out}"`;
  });
}

const MUTATIONS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  '\\u12',
  '\\x',
  '-',
  '0',
  '01',
  '.',
  'e',
  'tru',
  'nul',
  '\u0001',
  ' ',
];

function mutated(r: () => number, text: string): string {
  const at = Math.floor(r() * (text.length + 1));
  const pick = r();
  if (pick < 0.33) return text.slice(0, at) + text.slice(at + 1);
  const insert = MUTATIONS[Math.floor(r() * MUTATIONS.length)];
  if (pick < 0.66) return text.slice(0, at) + insert + text.slice(at);
  return text.slice(0, at) + insert + text.slice(at + insert.length);
}

function nested(levels: number, open: string, close: string, inner = '1'): string {
  return `{"a":${open.repeat(levels - 1)}${inner}${close.repeat(levels - 1)}}`;
}

describe('plain-text scan of tags and payload', () => {
  it(
    'gives exactly what the full path gives, on random and mutated JSON',
    () => {
      const redact = createRedactor();
      for (const maxDepth of [1, 2, 3, 8, 32]) {
        const ctx = contexts(redact, maxDepth, { ...DEFAULT_EVENT_LIMITS, maxTags: 3 });
        const r = rng(0x5eed + maxDepth);
        for (let n = 0; n < 2000; n++) {
          let tags = JSON.stringify(randomObject(r, 1 + Math.floor(r() * (maxDepth + 2))));
          let payload = JSON.stringify(randomObject(r, 1 + Math.floor(r() * (maxDepth + 2))));
          if (r() < 0.5) tags = spaced(r, tags);
          if (r() < 0.3) payload = escaped(r, payload);
          if (r() < 0.3) tags = mutated(r, tags);
          if (r() < 0.3) payload = mutated(r, mutated(r, payload));
          same(ctx, tags, payload);
        }
      }
    },
    FUZZ_TIMEOUT_MS,
  );

  it('gives exactly what the full path gives, on adversarial text', () => {
    const redact = createRedactor();
    const ctx = contexts(redact, 4, { ...DEFAULT_EVENT_LIMITS, maxTags: 2, tagsMaxBytes: 64 });
    const cases = [
      '{}',
      ' {} ',
      '{ }',
      '',
      ' ',
      '[]',
      '{}{}',
      '{}x',
      'null',
      '"{}"',
      '1',
      '\ufeff{}',
      '{"a":1,}',
      '{,"a":1}',
      '{"a" 1}',
      '{"a":}',
      '{"a":1 "b":2}',
      '{"a":[1,]}',
      '{"a":[,1]}',
      '{"a":[1 2]}',
      '{"a":01}',
      '{"a":-}',
      '{"a":1.}',
      '{"a":.5}',
      '{"a":1e}',
      '{"a":1e+}',
      '{"a":-0.0e-0}',
      '{"a":1E400}',
      '{"a":+1}',
      '{"a":0x10}',
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":tru}',
      '{"a":truex}',
      '{"a":nulll}',
      '{"a":"\\u00e9"}',
      '{"a":"\\u00G9"}',
      '{"a":"\\u00e"}',
      '{"a":"\\x41"}',
      '{"a":"\\/"}',
      '{"a":"\\ud83d\\ude00"}',
      '{"a":"\\ud83d"}',
      '{"a":"\\uDE00"}',
      '{"a":"\\\\ud83d"}',
      '{"a":"\\u0000"}',
      '{"a\\u0000":1}',
      '{"a":"\u0001"}',
      '{"a":"\t"}',
      '{"a":"\ud83d"}',
      '{"a":"x}',
      '{"a":"x\\"}',
      '{"a":1,"a":2}',
      '{"a":1,"b":2,"c":3}',
      '{"a":1,"a":2,"a":3}',
      '{"__proto__":{"password":1}}',
      '{"__proto__":1}',
      '{"password":"x"}',
      '{"pass\\u0077ord":"x"}',
      '{"nested":{"Authorization":"Bearer x"}}',
      '{"h":[{"name":"Authorization","value":"Bearer x"}]}',
      '{"h":[{"key":"cookie","value":"x"}]}',
      '{"h":[{"name":"Accept","value":"x"}]}',
      '{"h":[{"value":"x","name":1,"key":"token"}]}',
      '{"value":"x","key":"api_key"}',
      '{"name":"token"}',
      '{"author":"x","passenger":1}',
      nested(4, '[', ']'),
      nested(5, '[', ']'),
      nested(4, '{"b":', '}'),
      nested(5, '{"b":', '}'),
      nested(5, '[', ']', '[]'),
      nested(4, '[', ']', '{}'),
      nested(3, '[', ']', '{"password":1}'),
      nested(40, '{"password":', '}'),
      `{"a":"${'é'.repeat(40)}"}`,
      `{"a":"${'x'.repeat(70)}"}`,
    ];
    for (const tags of cases) for (const payload of ['{}', tags]) same(ctx, tags, payload);
  });

  it(
    'says plain only for text the full path keeps as it is',
    () => {
      const redact = createRedactor(DEFAULT_SENSITIVE_KEYS);
      const scan = createJsonTextScan(redact, 3);
      const r = rng(77);
      let plain = 0;
      for (let n = 0; n < 20_000; n++) {
        let text = JSON.stringify(randomObject(r, Math.floor(r() * 5)));
        if (r() < 0.5) text = spaced(r, text);
        if (r() < 0.3) text = mutated(r, text);
        const keys = scan(text, 4);
        if (keys === NOT_PLAIN) continue;
        plain++;
        const value: unknown = JSON.parse(text);
        expect(isPlainObject(value), text).toBe(true);
        expect(nestsDeeperThan(value, 3), text).toBe(false);
        expect(redact(value), text).toBe(value);
        expect(Object.keys(value as object).length, text).toBeLessThanOrEqual(keys);
        expect(keys, text).toBeLessThanOrEqual(4);
      }
      // The scan is not a no-op: most well-formed random objects are plain.
      expect(plain).toBeGreaterThan(2000);
    },
    FUZZ_TIMEOUT_MS,
  );

  it('lets the common event text through and sends redactable or deep text to the full path', () => {
    const scan = createJsonTextScan(createRedactor(), 2);
    expect(scan('{"service":"api","environment":"production","request_id":"req-1"}', 64)).toBe(3);
    expect(scan(' { "a" : [ 1 , "x" ] } ', 64)).toBe(1);
    expect(scan('{}', 0)).toBe(0);
    expect(scan('{"a":1,"b":2}', 1)).toBe(NOT_PLAIN);
    expect(scan('{"api_key":"x"}', 64)).toBe(NOT_PLAIN);
    expect(scan('{"a":{"b":{}}}', 64)).toBe(NOT_PLAIN);
    expect(scan('{"a":[[]]}', 64)).toBe(NOT_PLAIN);
    expect(scan('{"a":"\\ud800"}', 64)).toBe(NOT_PLAIN);
    expect(scan('[]', 64)).toBe(NOT_PLAIN);
  });
});
