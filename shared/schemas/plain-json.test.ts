/**
 * The plain check against the full path it stands in for (nestsDeeperThan, the redactor, JSON.stringify): whenever
 * it finds a value plain, the full path would keep the value as it is; it does for the common flat and nested
 * objects, and leaves sensitive keys, redactable shapes and too-deep values to the full path. serialiseFlat gives
 * JSON.stringify's text of each value found FLAT, whatever the values around it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../redact.ts';
import { nestsDeeperThan } from './depth.ts';
import { createPlainCheck, FLAT, NOT_PLAIN, PLAIN, serialiseFlat } from './plain-json.ts';

const redact = createRedactor();
/** Thousands of generated values through both paths: seconds on a busy machine (5 s, vitest's default, was hit). */
const PROPERTY_TIMEOUT_MS = 60_000;

describe('plain check', () => {
  it(
    "answers only when the depth bound and redaction would keep the value, with JSON.stringify's text",
    () => {
      const key = fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom('password', 'X-Api-Key', 'author', 'passenger', 'name', 'key', 'value', '__proto__', '1', '0'),
      );
      const value = fc.letrec((tie) => ({
        node: fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          fc.oneof(fc.string({ maxLength: 6 }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null)),
          fc.constantFrom(
            '"',
            '\\',
            '\u0000',
            '\ud800',
            '\udc00x',
            '\ud83d\ude00',
            '\u2028',
            '[REDACTED]',
            'Authorization',
          ),
          fc.array(tie('node'), { maxLength: 4 }),
          fc.dictionary(key, tie('node'), { maxKeys: 5 }),
        ),
      })).node;
      const object = fc.dictionary(key, value, { maxKeys: 6 });
      let plain = 0;
      let flat = 0;
      for (const maxDepth of [1, 2, 3, 20]) {
        const plainCheck = createPlainCheck(redact, maxDepth);
        fc.assert(
          fc.property(fc.array(object, { maxLength: 8 }), (generated) => {
            // As the gateway gets them: parsed from JSON text.
            const parsed = JSON.parse(JSON.stringify(generated)) as Record<string, unknown>[];
            const flats: Record<string, unknown>[] = [];
            for (const value of parsed) {
              const verdict = plainCheck(value);
              if (verdict === NOT_PLAIN) continue;
              plain++;
              expect(nestsDeeperThan(value, maxDepth)).toBe(false);
              expect(redact(value)).toBe(value);
              if (verdict === FLAT) flats.push(value);
            }
            flat += flats.length;
            expect(serialiseFlat(flats)).toEqual(flats.map((value) => JSON.stringify(value)));
          }),
          { numRuns: 2000 },
        );
      }
      expect(plain).toBeGreaterThan(4000);
      expect(flat).toBeGreaterThan(2000);
    },
    PROPERTY_TIMEOUT_MS,
  );

  it('finds plain objects plain, flat ones flat, and leaves the others to the full path', () => {
    const plainCheck = createPlainCheck(redact, 3);
    const flat = [
      { service: 'api', environment: 'production', request_id: 'req-1' },
      { duration_ms: 245, path: '/api/users', status: 200, ok: true, none: null, big: 1e21, small: -5e-7 },
      { quote: 'a "quoted" {word', escaped: '\n\u0000\ud800\\' },
      {},
    ];
    for (const value of flat) expect(plainCheck(value)).toBe(FLAT);
    expect(serialiseFlat(flat)).toEqual(flat.map((value) => JSON.stringify(value)));
    for (const value of [{ name: 'author', label: 'x' }, { key: 'k' }, { value: 1 }]) {
      expect(plainCheck(value)).toBe(FLAT);
    }
    const plain = [
      { duration_ms: 245, path: '/api/users', status: 200, ok: true, none: null, list: [1, 'two', { three: 3 }] },
      { list: [] },
      { quote: 'a "quoted" word', nested: { escaped: '\n\u0000\ud800' } },
      { closing: 'a } brace' },
      { 'a}': 1 },
    ];
    for (const value of plain) expect(plainCheck(value)).toBe(PLAIN);
    const full = [
      { password: 'x' },
      { nested: { apiKey: 'x' } },
      { list: [{ Authorization: 'x' }] },
      { headers: [{ name: 'Authorization', value: 'Bearer x' }] },
      { name: 'harmless', value: 'x' },
      { key: 'harmless', value: 'x' },
      { a: { b: { c: {} } } },
      { a: [[[]]] },
    ];
    for (const value of full) expect(plainCheck(value)).toBe(NOT_PLAIN);
  });
});
