/**
 * A sealed bundle's bytes copied into COPY rows (avro-copy.ts) against the decoding path it stands in for: the item
 * decoded by avsc and written by writeEventRow with the created_by rule applied. Generated events (unicode, lone
 * surrogates, nulls, given and generated ids, tags around the notable_tags bound, times far from the epoch) must give
 * the same bytes and the same row facts; bytes that are not such a bundle give null.
 */
import { describe, expect, it } from 'vitest';
import { loadCodecs } from '../../shared/schemas/avro.ts';
import type { EventRecord } from '../../shared/schemas/event.ts';
import { rng } from '../../test/helpers/random.ts';
import { TRANSCODED_SCHEMA, transcodeEventBundle } from './avro-copy.ts';
import { CopyRows, NOTABLE_ENTRY_BUDGET_BYTES, writeEventRow } from './copy-format.ts';

const codecs = loadCodecs();
const item = codecs.get('Event')!;
const bundle = codecs.get('EventBundle')!;
const LEVELS = [null, 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const TYPES = ['log', 'metric', 'trace', 'alert'] as const;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const PIECES = ['a', 'Z', '9', ' ', '"', '\\', 'é', '€', '𝄞', '\u0000', '\ud800', 'x'.repeat(40), '\t', '{}'];

function text(random: () => number, max: number): string {
  let s = '';
  for (let n = Math.floor(random() * max); n > 0; n--) s += PIECES[Math.floor(random() * PIECES.length)];
  return s;
}

function event(random: () => number, i: number): EventRecord {
  const hex = (n: number) =>
    Math.floor(random() * 16 ** n)
      .toString(16)
      .padStart(n, '0');
  const source = text(random, 4) || 'api';
  // A fifth of the events have tags at the notable_tags bound: source bytes + 6 × tags bytes within ±12 of it.
  const wrapper = JSON.stringify({ t: '' }).length;
  const atBound = (NOTABLE_ENTRY_BUDGET_BYTES - Buffer.byteLength(source) + Math.floor(random() * 25) - 12) / 6;
  const tagsText = random() < 0.2 ? 'k'.repeat(Math.max(0, Math.round(atBound) - wrapper)) : text(random, 6);
  return {
    id: `${hex(8)}-${hex(4)}-7${hex(3)}-8${hex(3)}-${hex(12)}`,
    event_type: TYPES[i % TYPES.length],
    source,
    message: random() < 0.2 ? null : text(random, 10),
    level: LEVELS[Math.floor(random() * LEVELS.length)],
    tags: JSON.stringify({ t: tagsText }),
    payload: JSON.stringify({ p: text(random, 5), n: i }),
    timestamp: random() < 0.1 ? Math.floor((random() - 0.5) * 2 ** 52) : Date.now() - Math.floor(random() * 1e9),
    created_by: random() < 0.3 ? null : `u-${i}`,
    id_given: random() < 0.5,
  };
}

/** An Avro long: zigzag, then 7 bits per byte. */
function zigzag(n: number): Buffer {
  let v = n >= 0 ? n * 2 : -n * 2 - 1;
  const bytes: number[] = [];
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function viaDecoding(value: Buffer) {
  const out = new CopyRows(16);
  const facts: unknown[] = [];
  const items = (bundle.decode(value, bundle.schemaId) as { events: EventRecord[] }).events;
  items.forEach((e, index) => {
    const start = out.length;
    writeEventRow(out, { ...e, created_by: e.created_by ?? 'kafka:gateway' });
    facts.push([start, out.length, e.timestamp, e.event_type, e.source, e.level, e.id_given ? e.id : null, index]);
  });
  return { bytes: out.written().toString('hex'), facts };
}

function viaBytes(value: Buffer) {
  const out = new CopyRows(16);
  const facts = transcodeEventBundle(value, out, (...fact) => fact);
  return facts === null ? null : { bytes: out.written().toString('hex'), facts };
}

describe('transcodeEventBundle', () => {
  it('follows the current EventBundle schema (after a change to event.avsc: update its field order, the id)', () => {
    expect(bundle.schemaId).toBe(TRANSCODED_SCHEMA);
  });

  it('writes the rows the decoding path writes, byte for byte; a lone surrogate sends the bundle to it', () => {
    let transcoded = 0;
    let declined = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const random = rng(seed);
      const events = Array.from({ length: 1 + Math.floor(random() * 40) }, (_, i) => event(random, i));
      const value = bundle.encode({ events });
      const got = viaBytes(value);
      // Avro writes a short string's lone surrogate as three bytes that are not UTF-8: only then is it declined.
      const wellFormed = events.every((e) =>
        [e.event_type, e.source, e.message, e.level, e.tags, e.payload, e.created_by].every(
          (field) => field === null || !LONE_SURROGATE.test(field),
        ),
      );
      if (wellFormed) expect(got, `seed ${seed}`).not.toBeNull();
      if (got === null) declined++;
      else {
        transcoded++;
        expect(got, `seed ${seed}`).toEqual(viaDecoding(value));
      }
    }
    expect(transcoded).toBeGreaterThan(50);
    expect(declined).toBeGreaterThan(10);
  });

  it('takes a bundle written in blocks with their byte sizes, as Avro allows', () => {
    const random = rng(7);
    const clean = (text: string) => text.replace(new RegExp(LONE_SURROGATE, 'g'), '?');
    const events = Array.from({ length: 5 }, (_, i) => {
      const e = event(random, i);
      return { ...e, source: clean(e.source), tags: clean(e.tags), payload: clean(e.payload), message: null };
    });
    const parts = events.map((e) => item.encode(e));
    const block = (items: Buffer[]) => {
      const bytes = Buffer.concat(items);
      return Buffer.concat([zigzag(-items.length), zigzag(bytes.length), bytes]);
    };
    const value = Buffer.concat([block(parts.slice(0, 2)), block(parts.slice(2)), Buffer.from([0])]);
    expect((bundle.decode(value, bundle.schemaId) as { events: unknown[] }).events).toHaveLength(5);
    expect(viaBytes(value)).toEqual(viaDecoding(value));
  });

  it('gives null for bytes that are not such a bundle, and for a created_by only the alerter may carry', () => {
    const random = rng(11);
    const value = bundle.encode({ events: [event(random, 0), event(random, 1)] });
    for (let cut = 0; cut < value.length; cut++) expect(viaBytes(value.subarray(0, cut))).toBeNull();
    expect(viaBytes(Buffer.concat([value, Buffer.from([0])]))).toBeNull();
    // The first item's message union: after the count (1 byte), id (1 + 36), event_type 'log' and source 'api' (1 + 3).
    const badUnion = bundle.encode({ events: [{ ...event(random, 4), event_type: 'log', source: 'api' }] });
    const branch = 1 + 37 + 4 + 4;
    expect(badUnion[branch]).toBeLessThanOrEqual(2);
    badUnion[branch] = 4;
    expect(viaBytes(badUnion)).toBeNull();
    const system = bundle.encode({ events: [{ ...event(random, 2), created_by: 'vigil-alerter' }] });
    expect(viaBytes(system)).toBeNull();
    const shortId = bundle.encode({ events: [{ ...event(random, 3), id: 'abc' }] });
    expect(viaBytes(shortId)).toBeNull();
  });
});
