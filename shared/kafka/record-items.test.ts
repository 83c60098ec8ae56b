/**
 * Every encoding a record of the events topic may carry (README "Kafka contract"): Avro item or bundle (current and
 * historic writer schemas), JSON object or array (with the content-type header, or detected), and what fails whole;
 * and the item count consumers size their batches by, read without decoding.
 */
import { describe, expect, it } from 'vitest';
import { frameBundle, loadCodecs } from '../schemas/avro.ts';
import type { ConsumedRecord } from './consumer.ts';
import { estimatedItems, itemAlone, itemsOf } from './record-items.ts';

const codecs = loadCodecs();
const codec = { item: codecs.get('Event')!, bundle: codecs.get('EventBundle')! };
const record = (value: Buffer | string | null, headers: Record<string, string> = {}): ConsumedRecord => ({
  offset: '0',
  key: null,
  value: value === null ? null : Buffer.from(value),
  headers,
  timestamp: String(Date.now()),
});
const event = (n: number) => ({
  id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d',
  event_type: 'log',
  source: 'api',
  message: `m${n}`,
  level: null,
  tags: '{}',
  payload: '{}',
  timestamp: n,
  created_by: null,
  id_given: false,
});
const plain = (items: unknown[]) => items.map((i) => ({ ...(i as object) }));

describe('itemsOf', () => {
  it('unpacks Avro items and bundles, JSON objects and arrays', () => {
    const single = itemsOf(record(codec.item.encode(event(1)), { 'vigil-schema': codec.item.schemaId }), codec);
    expect(single.ok && { ...single, items: plain(single.items) }).toEqual({
      ok: true,
      items: [event(1)],
      encoding: 'avro',
      bundle: false,
    });
    const bundle = itemsOf(
      record(codec.bundle.encode({ events: [event(1), event(2)] }), { 'vigil-schema': codec.bundle.schemaId }),
      codec,
    );
    expect(bundle.ok && { ...bundle, items: plain(bundle.items) }).toEqual({
      ok: true,
      items: [event(1), event(2)],
      encoding: 'avro',
      bundle: true,
    });
    expect(itemsOf(record('{"a":1}'), codec)).toEqual({ ok: true, items: [{ a: 1 }], encoding: 'json', bundle: false });
    expect(itemsOf(record('[{"a":1},2]', { 'content-type': 'application/json; charset=utf-8' }), codec)).toEqual({
      ok: true,
      items: [{ a: 1 }, 2],
      encoding: 'json',
      bundle: true,
    });
  });

  it('fails whole what cannot be decoded, and empty bundles', () => {
    expect(itemsOf(record(null), codec)).toEqual({
      ok: false,
      reason: 'empty_value',
      detail: 'the record has no value',
    });
    expect(itemsOf(record('[]'), codec)).toEqual({
      ok: false,
      reason: 'empty_value',
      detail: 'the bundle has no items',
    });
    expect(
      itemsOf(record(codec.bundle.encode({ events: [] }), { 'vigil-schema': codec.bundle.schemaId }), codec),
    ).toEqual({ ok: false, reason: 'empty_value', detail: 'the bundle has no items' });
    expect(itemsOf(record('"text"', { 'content-type': 'application/json' }), codec)).toEqual({
      ok: false,
      reason: 'invalid',
      detail: 'the JSON value must be an object (one item) or an array of objects (a bundle)',
    });
    expect(itemsOf(record('{"a":'), codec)).toMatchObject({
      ok: false,
      reason: 'decode_failed',
      detail: expect.stringMatching(/^malformed JSON/),
    });
    expect(itemsOf(record('plain text'), codec)).toMatchObject({
      ok: false,
      reason: 'decode_failed',
      detail: expect.stringMatching(/^unrecognised encoding/),
    });
    expect(itemsOf(record(Buffer.from([6, 1]), { 'vigil-schema': codec.bundle.schemaId }), codec)).toMatchObject({
      ok: false,
      reason: 'decode_failed',
    });
    expect(
      itemsOf(record(Buffer.from([0]), { 'vigil-schema': 'vigil.monitoring.EventBundle@00' }), codec),
    ).toMatchObject({ ok: false, reason: 'unknown_schema' });
  });
});

describe('estimatedItems', () => {
  it("reads an Avro bundle's announced count (at least one per KiB), a JSON array by its length, 1 otherwise", () => {
    const parts = Array.from({ length: 300 }, (_, i) => codec.item.encode(event(i)));
    const framed = frameBundle(
      parts,
      parts.reduce((sum, p) => sum + p.length, 0),
    );
    expect(estimatedItems(record(framed, { 'vigil-schema': codec.bundle.schemaId }), codec.bundle)).toBe(300);
    // A bundle that announces 1 item in its first block but weighs 10 KiB counts as 10.
    expect(
      estimatedItems(
        record(Buffer.concat([Buffer.from([2]), Buffer.alloc(10 * 1024)]), { 'vigil-schema': codec.bundle.schemaId }),
        codec.bundle,
      ),
    ).toBe(11);
    expect(estimatedItems(record(parts[0], { 'vigil-schema': codec.item.schemaId }), codec.bundle)).toBe(1);
    // 513 bytes / 64, rounded up
    expect(estimatedItems(record(`[${'{"a":1},'.repeat(63)}{"a":1}]`), codec.bundle)).toBe(9);
    expect(estimatedItems(record('{"a":1}'), codec.bundle)).toBe(1);
  });
});

describe('itemAlone', () => {
  it('re-encodes an Avro item with the item schema, and serialises a JSON item', () => {
    const alone = itemAlone(event(7), 'avro', codec.item);
    expect(alone.headers).toEqual({ 'vigil-schema': codec.item.schemaId });
    expect({ ...(codec.item.decode(alone.value, codec.item.schemaId) as object) }).toEqual(event(7));
    expect(itemAlone({ a: 1 }, 'json', codec.item)).toEqual({
      value: Buffer.from('{"a":1}'),
      headers: { 'content-type': 'application/json' },
    });
  });
});
