/**
 * Property test of `cursor` on GET /api/v1/monitoring/events (the only route that takes one) through the real route
 * and a real PostgreSQL: random base64, base64 of random JSON and of JSON with wrong types, and cursors of the
 * issued form with huge, negative, NaN or out-of-range timestamps, bad ids and fingerprints. A cursor this API could
 * have issued answers 200; anything else 400 naming `cursor`; never a 500.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertEvents } from '../../test/helpers/rows.ts';
import { filterFingerprint, MAX_CURSOR_MICROS } from './cursor.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** The fingerprint of a listing without filters, as the route computes it. */
const FINGERPRINT = filterFingerprint({ tags: [] });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const base64url = (text: string | Uint8Array) => Buffer.from(text).toString('base64url');

/** Text the route reads as `<version>.<micros>.<id>.<fingerprint>`; valid parts mixed with hostile ones. */
const micros = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX_CURSOR_MICROS }).map(String),
  fc.bigInt({ min: MAX_CURSOR_MICROS + 1n, max: 10n ** 20n - 1n }).map(String),
  fc.bigInt({ min: 10n ** 20n, max: 10n ** 40n }).map(String),
  fc.constantFrom('NaN', 'Infinity', '-1', '-0', '1e400', '0x10', '1.5', '', ' 1', '١٢٣', '99999999999999999999'),
  fc.constantFrom(String(MAX_CURSOR_MICROS), String(MAX_CURSOR_MICROS + 1n), '8640000000000000000', '0'),
  fc.double().map(String),
);
const id = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.string({ maxLength: 40 }),
  fc.constant('00000000-0000-0000-0000-000000000000'),
);
/** Mostly the right value, sometimes a wrong one. */
const mostly = (right: string, wrong: fc.Arbitrary<string>) =>
  fc.oneof({ arbitrary: fc.constant(right), weight: 4 }, { arbitrary: wrong, weight: 1 });
const version = mostly('v1', fc.constantFrom('v0', 'v2', 'V1', ''));
const fingerprint = mostly(FINGERPRINT, fc.string({ maxLength: 14 }));
const issuedForm = fc.tuple(version, micros, id, fingerprint, fc.constantFrom('', '.', '.extra'));

/** Whether the route must accept the parts as a cursor it issued (for a listing without filters). */
function acceptable([v, m, u, fp, tail]: [string, string, string, string, string]): boolean {
  const inRange = /^\d{1,20}$/.test(m) && BigInt(m) <= MAX_CURSOR_MICROS;
  return v === 'v1' && inRange && UUID.test(u) && fp === FINGERPRINT && tail === '';
}

const wrongTypes = fc.record({
  v: fc.oneof(fc.constant('v1'), fc.jsonValue()),
  ts: fc.oneof(fc.double(), fc.bigInt().map(String), fc.date({ noInvalidDate: false }).map(String), fc.jsonValue()),
  id: fc.oneof(fc.uuid(), fc.jsonValue()),
});

/** Cursors that are not of the issued form at all. */
const garbage = fc.oneof(
  fc.base64String({ minLength: 1, maxLength: 200 }),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,220}$/),
  fc.uint8Array({ minLength: 1, maxLength: 150 }).map(base64url),
  fc.jsonValue().map((value) => base64url(JSON.stringify(value))),
  fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value)).toString('base64')),
  wrongTypes.map((value) => base64url(JSON.stringify(value))),
  fc.string({ minLength: 1, maxLength: 250, unit: 'binary' }),
);

describe('GET /api/v1/monitoring/events?cursor=… (property)', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query');
    token = ctx.token('user');
    await insertEvents(ctx.db, [{ timestamp: Date.now() - 60_000, source: 'fuzz', message: 'one' }]);
  });
  afterAll(() => ctx?.cleanup());

  async function get(cursor: string) {
    const res = await api.app.inject({
      method: 'GET',
      url: `/api/v1/monitoring/events?limit=5&cursor=${encodeURIComponent(cursor)}`,
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.statusCode, body: res.json() };
  }

  function expectRefused(answer: { status: number; body: unknown }, cursor: string): void {
    expect(answer.status, cursor).toBe(400);
    expect(answer.body, cursor).toEqual({
      success: false,
      error: {
        code: 'VIGIL_ERR_VALIDATION',
        message: expect.stringMatching(/^cursor: /),
        details: [{ field: 'cursor', message: expect.any(String) }],
      },
    });
  }

  it('answers 200 for a cursor of the issued form and 400 naming cursor for any other', async () => {
    await fc.assert(
      fc.asyncProperty(issuedForm, async (parts) => {
        const [v, m, u, fp, tail] = parts;
        const cursor = base64url(`${v}.${m}.${u}.${fp}${tail}`);
        const answer = await get(cursor);
        if (!acceptable(parts)) return expectRefused(answer, cursor);
        expect(answer.status, cursor).toBe(200);
        expect(answer.body).toMatchObject({ success: true, data: expect.any(Array) });
      }),
      { numRuns: RUNS },
    );
  });

  it('answers 400 naming cursor for random base64, base64 of random JSON and of JSON with wrong types', async () => {
    await fc.assert(
      fc.asyncProperty(garbage, async (cursor) => expectRefused(await get(cursor), cursor)),
      { numRuns: RUNS },
    );
  });

  it('refuses the keys a JS Date or PostgreSQL cannot carry (regression: they answered 500)', async () => {
    for (const key of ['99999999999999999999', String(MAX_CURSOR_MICROS + 1n), '8640000000000001000']) {
      const cursor = base64url(`v1.${key}.0190d6a0-4b7e-7000-8000-000000000000.${FINGERPRINT}`);
      expectRefused(await get(cursor), cursor);
    }
    const last = base64url(`v1.${MAX_CURSOR_MICROS}.0190d6a0-4b7e-7000-8000-000000000000.${FINGERPRINT}`);
    const answer = await get(last);
    expect(answer.status).toBe(200);
    const data = [expect.objectContaining({ source: 'fuzz', message: 'one' })];
    expect(answer.body).toEqual({ success: true, data, next_cursor: null });
  });
});
