/**
 * Schema evolution: a record written with a schema under schemas/history/ (before created_by was added) is still
 * decoded by the current reader, the added field taking its default — alone and inside a bundle; a record naming an
 * unknown schema fails loudly. Bundles framed from items encoded one by one are the bundle schema's own encoding.
 * encodeView's compiled writer gives avsc's bytes for any event, and avsc's error for a value it cannot encode; so
 * does encodeViews for a request's events.
 */
import fs from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../config.ts';
import { announcedItems, frameBundle, loadCodecs } from './avro.ts';

/** Thousands of generated values against avsc: seconds on a busy machine, past vitest's 5 s default. */
const PROPERTY_TIMEOUT_MS = 60_000;

const codecs = loadCodecs();

function historic(file: string): { type: avro.Type; schemaId: string } {
  const type = avro.Type.forSchema(
    JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'schemas', 'history', file), 'utf8')),
  );
  return { type, schemaId: `${type.name}@${type.fingerprint('md5').toString('hex')}` };
}

describe('Avro codecs', () => {
  it('round-trips an event with the current schema', () => {
    const codec = codecs.get('Event')!;
    const event = {
      id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d',
      event_type: 'log',
      source: 'api',
      message: 'hi',
      level: 'info',
      tags: '{"a":1}',
      payload: '{}',
      timestamp: 1_700_000_000_000,
      created_by: 'user-1',
      id_given: false,
    };
    expect({ ...(codec.decode(codec.encode(event), codec.schemaId) as object) }).toEqual(event);
    expect(codec.schemaId).toMatch(/^vigil\.monitoring\.Event@[0-9a-f]{32}$/);
  });

  it('reads an Event written before created_by was added, with the default null', () => {
    const v1 = historic('event-v1.avsc');
    const codec = codecs.get('Event')!;
    expect(v1.schemaId).not.toBe(codec.schemaId);
    const old = {
      id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6e',
      event_type: 'trace',
      source: 'legacy',
      message: null,
      level: null,
      tags: '{}',
      payload: '{"span":"x"}',
      timestamp: 1_700_000_000_001,
    };
    const decoded = codec.decode(v1.type.toBuffer(old), v1.schemaId);
    expect({ ...(decoded as object) }).toEqual({ ...old, created_by: null, id_given: true });
  });

  it('reads an Event or a Metric written before id_given was added as a producer-chosen id (default true)', () => {
    const event = historic('event-v2.avsc');
    const old = {
      id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6e',
      event_type: 'log',
      source: 'direct',
      message: null,
      level: null,
      tags: '{}',
      payload: '{}',
      timestamp: 1_700_000_000_001,
      created_by: 'kafka:x',
    };
    expect({ ...(codecs.get('Event')!.decode(event.type.toBuffer(old), event.schemaId) as object) }).toEqual({
      ...old,
      id_given: true,
    });
    const metric = historic('metric-v2.avsc');
    const sample = {
      id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6f',
      name: 'up',
      metric_type: 'gauge',
      value: 1,
      labels: {},
      timestamp: 1_700_000_000_002,
      created_by: null,
    };
    expect({ ...(codecs.get('Metric')!.decode(metric.type.toBuffer(sample), metric.schemaId) as object) }).toEqual({
      ...sample,
      id_given: true,
    });
  });

  it('reads a Metric written before created_by was added, with the default null', () => {
    const v1 = historic('metric-v1.avsc');
    const codec = codecs.get('Metric')!;
    const old = {
      id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6f',
      name: 'http_requests_total',
      metric_type: 'counter',
      value: 42,
      labels: { method: 'GET' },
      timestamp: 1_700_000_000_002,
    };
    const decoded = codec.decode(v1.type.toBuffer(old), v1.schemaId);
    expect({ ...(decoded as object) }).toEqual({ ...old, created_by: null, id_given: true });
  });

  it('refuses a record naming a schema it does not know', () => {
    const codec = codecs.get('Metric')!;
    expect(() => codec.decode(Buffer.from([0]), 'vigil.monitoring.Metric@00000000000000000000000000000000')).toThrow(
      /^unknown schema vigil\.monitoring\.Metric@0{32}/,
    );
  });

  it("frames items encoded one by one into exactly the bundle schema's encoding, and reads its announced count", () => {
    const item = codecs.get('Event')!;
    const bundle = codecs.get('EventBundle')!;
    expect(bundle.schemaId).toMatch(/^vigil\.monitoring\.EventBundle@[0-9a-f]{32}$/);
    expect(bundle.itemsField).toBe('events');
    expect(item.itemsField).toBeNull();
    for (const count of [1, 63, 64, 300]) {
      const events = Array.from({ length: count }, (_, i) => ({
        id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d',
        event_type: 'log',
        source: 'api',
        message: `m${i}`,
        level: null,
        tags: '{}',
        payload: '{}',
        timestamp: 1_700_000_000_000 + i,
        created_by: null,
        id_given: false,
      }));
      const parts = events.map((e) => item.encode(e));
      const framed = frameBundle(
        parts,
        parts.reduce((sum, p) => sum + p.length, 0),
      );
      expect(framed.equals(bundle.encode({ events }))).toBe(true);
      expect(announcedItems(framed)).toBe(count);
      expect((bundle.decode(framed, bundle.schemaId) as { events: object[] }).events.map((e) => ({ ...e }))).toEqual(
        events,
      );
    }
    const metrics = codecs.get('MetricBundle')!;
    expect(metrics.itemsField).toBe('metrics');
    expect(metrics.knows(codecs.get('Metric')!.schemaId)).toBe(false);
  });

  it('reads a bundle of Events written before created_by was added (the bundle of a historic item version)', () => {
    const v1 = historic('event-v1.avsc');
    const bundleV1 = avro.Type.forSchema(
      JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'schemas', 'event-bundle.avsc'), 'utf8')),
      { registry: { 'vigil.monitoring.Event': v1.type } },
    );
    const schemaId = `${bundleV1.name}@${bundleV1.fingerprint('md5').toString('hex')}`;
    const bundle = codecs.get('EventBundle')!;
    expect(schemaId).not.toBe(bundle.schemaId);
    expect(bundle.knows(schemaId)).toBe(true);
    const old = {
      id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6e',
      event_type: 'trace',
      source: 'legacy',
      message: null,
      level: null,
      tags: '{}',
      payload: '{}',
      timestamp: 1_700_000_000_001,
    };
    const decoded = bundle.decode(bundleV1.toBuffer({ events: [old, { ...old, source: 'again' }] }), schemaId) as {
      events: object[];
    };
    expect(decoded.events.map((e) => ({ ...e }))).toEqual([
      { ...old, created_by: null, id_given: true },
      { ...old, source: 'again', created_by: null, id_given: true },
    ]);
  });

  describe('encodeView (the compiled writer)', () => {
    /** The bytes in hex, or the error's message. */
    const outcome = (encode: () => Buffer): string => {
      try {
        return encode().toString('hex');
      } catch (error) {
        return `error: ${(error as Error).message}`;
      }
    };
    const codec = codecs.get('Event')!;
    /** Strings around the writer's boundaries (32 and 64 units, 8192 bytes) in ASCII, other scripts and surrogates. */
    const text = fc.oneof(
      fc.string({ maxLength: 80, size: 'max' }),
      fc.string({ unit: 'grapheme', maxLength: 40, size: 'max' }),
      fc.string({ unit: 'binary', maxLength: 70, size: 'max' }),
      fc.constantFrom('\ud800', 'a\udc00b', '\ud83d\ude00', 'é'.repeat(33), '\ud800'.repeat(22), 'x'.repeat(64)),
      fc.integer({ min: 8180, max: 8200 }).map((n) => 'y'.repeat(n)),
      fc.integer({ min: 2000, max: 2800 }).map((n) => 'ü'.repeat(n)),
    );
    /** Most events are ASCII throughout: the writer's fastest path, its lengths of one and two bytes. */
    const ascii = fc.oneof(
      fc.string({ unit: 'binary-ascii', maxLength: 100, size: 'max' }),
      fc.integer({ min: 8180, max: 8200 }).map((n) => 'a'.repeat(n)),
    );
    const asciiEvent = fc.record({
      id: ascii,
      event_type: ascii,
      source: ascii,
      message: fc.option(ascii),
      level: fc.option(ascii),
      tags: ascii,
      payload: ascii,
      timestamp: fc.oneof(fc.integer(), fc.constantFrom(0, 1_765_090_000_000, 2 ** 53 - 2, -(2 ** 53 - 2))),
      created_by: fc.option(ascii),
      id_given: fc.boolean(),
    });
    const event = fc.record({
      id: text,
      event_type: text,
      source: text,
      message: fc.option(text),
      level: fc.option(text),
      tags: text,
      payload: text,
      timestamp: fc.oneof(
        fc.integer(),
        fc.maxSafeInteger(),
        fc.constantFrom(0, -0, 1_765_090_000_000, -(2 ** 31), 2 ** 53 - 2, -(2 ** 53 - 2)),
      ),
      created_by: fc.option(text),
      id_given: fc.boolean(),
    });

    it(
      "writes avsc's bytes for any event",
      () => {
        fc.assert(
          fc.property(fc.oneof(event, asciiEvent), (e) => {
            expect(outcome(() => codec.encodeView(e))).toBe(outcome(() => codec.encode(e)));
          }),
          { numRuns: 6000 },
        );
      },
      PROPERTY_TIMEOUT_MS,
    );

    it(
      "encodeViews writes avsc's bytes for each of a request's events, ASCII or not",
      () => {
        /** Mostly all-ASCII requests (written as one text), some with one event that is not. */
        const request = fc.oneof(
          { arbitrary: fc.array(asciiEvent, { maxLength: 30 }), weight: 3 },
          { arbitrary: fc.array(fc.oneof(asciiEvent, event), { maxLength: 10 }), weight: 1 },
        );
        fc.assert(
          fc.property(request, (events) => {
            let views: string[];
            try {
              views = codec.encodeViews(events).map((view) => view.toString('hex'));
            } catch (error) {
              // A value avsc refuses: the same error as encoding the first such event alone.
              const refused = events.map((e) => outcome(() => codec.encode(e))).find((o) => o.startsWith('error'));
              expect(`error: ${(error as Error).message}`).toBe(refused);
              return;
            }
            expect(views).toEqual(events.map((e) => codec.encode(e).toString('hex')));
          }),
          { numRuns: 2000 },
        );
      },
      PROPERTY_TIMEOUT_MS,
    );

    it('writes the defaults of missing fields and refuses what avsc refuses, as avsc does', () => {
      const valid = {
        id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d',
        event_type: 'log',
        source: 'api',
        message: 'hi',
        level: 'info',
        tags: '{}',
        payload: '{}',
        timestamp: 1_700_000_000_000,
        created_by: 'user-1',
        id_given: false,
      };
      const { tags: _t, created_by: _c, id_given: _i, ...missing } = valid;
      expect(codec.encodeView(missing).toString('hex')).toBe(codec.encode(missing).toString('hex'));
      for (const wrong of [
        { timestamp: 1.5 },
        { timestamp: 2 ** 53 - 1 },
        { timestamp: '1' },
        { source: null },
        { source: 7 },
        { message: 3 },
        { id_given: 1 },
      ]) {
        const value = { ...valid, ...wrong };
        expect(outcome(() => codec.encode(value))).toMatch(/^error: invalid/);
        expect(outcome(() => codec.encodeView(value))).toBe(outcome(() => codec.encode(value)));
      }
    });

    it('gives views that stay valid across slabs (records of up to 40 kB, many slabs)', () => {
      const values = Array.from({ length: 400 }, (_, i) => ({
        id: `id-${i}`,
        event_type: 'log',
        source: 's',
        message: i % 3 === 0 ? 'ä'.repeat(i * 13) : 'm'.repeat(i * 101),
        level: null,
        tags: '{}',
        payload: '{}',
        timestamp: i,
        created_by: null,
        id_given: true,
      }));
      const views = values.map((v) => codec.encodeView(v));
      values.forEach((v, i) => expect(views[i].toString('hex')).toBe(codec.encode(v).toString('hex')));
      // All ASCII, many at once: one text larger than a slab (54 records of 0.1–8 kB), requests that fill slabs part
      // way, and one whose long messages (8,192 units and more) are written record by record.
      const ascii = values.filter((_, i) => i % 3 !== 0);
      expect(ascii.slice(0, 54).reduce((sum, v) => sum + v.message.length, 0)).toBeGreaterThan(65_536);
      const requests = [ascii.slice(0, 54), ascii.slice(0, 10), ascii.slice(10, 30), ascii, ascii.slice(0, 2)];
      const encoded = requests.map((request) => codec.encodeViews(request));
      requests.forEach((request, r) =>
        request.forEach((v, i) => expect(encoded[r][i].toString('hex')).toBe(codec.encode(v).toString('hex'))),
      );
    });
  });
});
