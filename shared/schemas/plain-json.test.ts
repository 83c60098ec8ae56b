/**
 * plainJson against the full path it stands in for (nestsDeeperThan, the redactor, JSON.stringify): whenever it
 * answers, the full path would keep the value as it is and serialise it to the same text; it answers for the
 * common flat and nested objects, and leaves sensitive keys, redactable shapes and too-deep values to the full path.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../redact.ts';
import { nestsDeeperThan } from './depth.ts';
import { createPlainJson } from './plain-json.ts';

const redact = createRedactor();

describe('plainJson', () => {
  it("answers only when the depth bound and redaction would keep the value, with JSON.stringify's text", () => {
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
    let answered = 0;
    for (const maxDepth of [1, 2, 3, 20]) {
      const plainJson = createPlainJson(redact, maxDepth);
      fc.assert(
        fc.property(object, (generated) => {
          // As the gateway gets it: parsed from JSON text.
          const parsed = JSON.parse(JSON.stringify(generated)) as Record<string, unknown>;
          const text = plainJson(parsed);
          if (text === null) return;
          answered++;
          expect(nestsDeeperThan(parsed, maxDepth)).toBe(false);
          expect(redact(parsed)).toBe(parsed);
          expect(text).toBe(JSON.stringify(parsed));
        }),
        { numRuns: 2000 },
      );
    }
    expect(answered).toBeGreaterThan(1000);
  });

  it('answers for plain objects and leaves the others to the full path', () => {
    const plainJson = createPlainJson(redact, 3);
    const plain = [
      { service: 'api', environment: 'production', request_id: 'req-1' },
      { duration_ms: 245, path: '/api/users', status: 200, ok: true, none: null, list: [1, 'two', { three: 3 }] },
      { name: 'author', label: 'x' },
      { key: 'k' },
      { value: 1 },
      { quote: 'a "quoted" word', nested: { escaped: '\n\u0000\ud800' } },
      {},
    ];
    for (const value of plain) expect(plainJson(value)).toBe(JSON.stringify(value));
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
    for (const value of full) expect(plainJson(value)).toBeNull();
  });
});
