/**
 * Property test of the ingest edge: thousands of random and mutated bodies, content types and encodings. Whatever
 * arrives, the gateway answers with a status below 500 and a well-formed envelope, and keeps running.
 */
import zlib from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { ERRORS } from '../../shared/errors.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);

const VALID_EVENT = {
  event_type: 'log',
  source: 'fuzz',
  message: 'm',
  level: 'info',
  tags: { a: '1' },
  payload: { n: 1, deep: { x: [1, 2] } },
};
const VALID_METRIC = { name: 'fuzz_total', metric_type: 'counter', value: 1, labels: { a: 'b' } };

/** Values that stress validators: wrong types, edge numbers, huge/NUL/unicode strings, deep and odd structures. */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom(
    null,
    true,
    0,
    -0,
    -1,
    1e308,
    -1e308,
    2 ** 53,
    0.1,
    '',
    ' ',
    '\u0000',
    '__proto__',
    'constructor',
    '\ud800',
    '日本語',
    'log',
    'counter',
  ),
  fc.string({ maxLength: 300 }),
  fc.integer().map((n) => new Date(Date.now() + n * 1000).toISOString()),
  fc.constant(JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": 1}}')),
);

/** Usually a valid value, sometimes a nasty one: most items get deep into validation, many are accepted. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: valid, weight: 5 }, { arbitrary: nasty, weight: 1 });
const recentTime = fc.integer({ min: -86_400, max: 60 }).map((s) => new Date(Date.now() + s * 1000).toISOString());

const eventLike = fc.record(
  {
    id: mostly(fc.uuid()),
    event_type: mostly(fc.constantFrom('log', 'metric', 'trace', 'alert')),
    source: mostly(fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== '' && !s.includes('\u0000'))),
    message: mostly(fc.string({ maxLength: 50 })),
    level: mostly(fc.constantFrom('info', 'error')),
    tags: mostly(fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 8 })),
    payload: mostly(fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 })),
    timestamp: mostly(recentTime),
    unexpected_field: nasty,
  },
  { requiredKeys: ['event_type', 'source'] },
);

const metricLike = fc.record(
  {
    id: mostly(fc.uuid()),
    name: mostly(fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/)),
    metric_type: mostly(fc.constantFrom('gauge', 'histogram', 'summary')),
    value: mostly(fc.double({ noNaN: true, noDefaultInfinity: true })),
    labels: mostly(
      fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/), fc.string({ maxLength: 10 }), { maxKeys: 6 }),
    ),
    timestamp: mostly(recentTime),
  },
  { requiredKeys: ['name', 'metric_type', 'value'] },
);

/** Text mutations of a valid body: deletions, insertions, replacements, truncation, duplication. */
function mutated(valid: string) {
  return fc
    .array(
      fc.tuple(
        fc.nat(),
        fc.nat({ max: 12 }),
        fc.string({ maxLength: 4, unit: 'binary' }),
        fc.constantFrom('delete', 'insert', 'replace', 'truncate', 'duplicate'),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => {
      let text = valid;
      for (const [at, length, insert, kind] of edits) {
        const i = at % (text.length + 1);
        if (kind === 'delete') text = text.slice(0, i) + text.slice(i + length);
        else if (kind === 'insert') text = text.slice(0, i) + insert + text.slice(i);
        else if (kind === 'replace') text = text.slice(0, i) + insert + text.slice(i + insert.length);
        else if (kind === 'truncate') text = text.slice(0, i);
        else text = text.slice(0, i) + text.slice(i, i + length) + text.slice(i);
      }
      return text;
    });
}

interface Shot {
  path: 'events' | 'metrics';
  body: Buffer;
  contentType: string | undefined;
  encoding: string | undefined;
}

// Mostly what real producers send, sometimes not.
const contentTypes = fc.oneof(
  {
    arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/x-ndjson'),
    weight: 8,
  },
  { arbitrary: fc.constantFrom('text/plain', 'application/octet-stream', 'application/jsonx', undefined), weight: 1 },
);
const encodings = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 6 },
  { arbitrary: fc.constantFrom('gzip', 'identity', 'deflate', 'gzip, gzip'), weight: 2 },
);
// Deeper than any stack: JSON.parse takes it, every recursive walker after it must not.
const DEEP = (open: string, close: string) => `${open.repeat(50_000)}${close.repeat(50_000)}`;
const deepBodies = fc.constantFrom(
  `{"event_type":"log","source":"s","payload":{"a":${DEEP('[', ']')}}}`,
  `{"event_type":"log","source":"s","tags":${DEEP('{"a":', '}').replace(/:}/, ':1}')}}`,
  `[{"event_type":"log","source":"s","message":${DEEP('[', ']')}}]`,
  `{"name":"x","metric_type":"gauge","value":1,"labels":{"a":${DEEP('[', ']')}}}`,
  DEEP('[', ']'),
);

function shot(path: 'events' | 'metrics', text: fc.Arbitrary<string>): fc.Arbitrary<Shot> {
  return fc
    .record({ text, contentType: contentTypes, encoding: encodings, gzipIt: fc.boolean() })
    .map(({ text: t, contentType, encoding, gzipIt }) => {
      const raw = Buffer.from(t);
      return { path, body: encoding === 'gzip' && gzipIt ? zlib.gzipSync(raw) : raw, contentType, encoding };
    });
}

const asBatch = (items: unknown[], key: string) =>
  fc.constantFrom(
    JSON.stringify(items),
    JSON.stringify({ [key]: items }),
    items.map((i) => JSON.stringify(i)).join('\n'),
  );

describe('gateway fuzz', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  const statuses = new Map<number, number>();

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway', {
      INGEST_BODY_LIMIT_BYTES: '524288',
      INGEST_MAX_BATCH_ITEMS: '50',
      INGEST_PRODUCE_TIMEOUT_MS: '10000',
    });
    token = ctx.token('user');
  });
  afterAll(async () => {
    console.log(`fuzz statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    await ctx?.cleanup();
  });

  async function answersSanely(s: Shot): Promise<void> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (s.contentType !== undefined) headers['content-type'] = s.contentType;
    if (s.encoding !== undefined) headers['content-encoding'] = s.encoding;
    const res = await api.app.inject({ method: 'POST', url: `/api/v1/monitoring/${s.path}`, headers, payload: s.body });
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    expect(res.statusCode, res.body).toBeLessThan(500);
    const body = res.json();
    if (res.statusCode === 202) {
      expect(body.success).toBe(true);
      expect(body.data).toBeTypeOf('object');
    } else {
      expect(body.success).toBe(false);
      expect(Object.keys(ERRORS)).toContain(body.error.code);
      expect(body.error.message).toBeTypeOf('string');
      expect(res.statusCode).toBe(ERRORS[body.error.code as keyof typeof ERRORS].status);
    }
  }

  const property = (arb: fc.Arbitrary<Shot>, numRuns = RUNS) =>
    fc.assert(fc.asyncProperty(arb, answersSanely), { numRuns });

  it('answers bodies nested 50,000 deep with < 500 (JSON.parse takes them; nothing after it may recurse)', async () => {
    await property(fc.oneof(shot('events', deepBodies), shot('metrics', deepBodies)), 40);
  }, 300_000);

  it('answers random JSON values and random bytes with < 500', async () => {
    await property(
      fc.oneof(
        shot(
          'events',
          fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
        ),
        shot(
          'metrics',
          fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
        ),
        shot('events', fc.string({ maxLength: 200, unit: 'binary' })),
        fc.uint8Array({ maxLength: 300 }).map((bytes) => ({
          path: 'metrics' as const,
          body: Buffer.from(bytes),
          contentType: 'application/json',
          encoding: 'gzip',
        })),
      ),
    );
  }, 300_000);

  it('answers event-like and metric-like items, alone and in batches, with < 500', async () => {
    await property(
      fc.oneof(
        shot(
          'events',
          eventLike.map((e) => JSON.stringify(e)),
        ),
        shot(
          'events',
          fc.array(eventLike, { maxLength: 8 }).chain((items) => asBatch(items, 'events')),
        ),
        shot(
          'metrics',
          metricLike.map((m) => JSON.stringify(m)),
        ),
        shot(
          'metrics',
          fc.array(metricLike, { maxLength: 8 }).chain((items) => asBatch(items, 'metrics')),
        ),
      ),
    );
  }, 300_000);

  it('answers mutations of valid bodies with < 500', async () => {
    const events = [VALID_EVENT, VALID_EVENT];
    const metrics = [VALID_METRIC, VALID_METRIC];
    await property(
      fc.oneof(
        shot('events', mutated(JSON.stringify(VALID_EVENT))),
        shot('events', mutated(JSON.stringify({ events }))),
        shot('events', mutated(events.map((e) => JSON.stringify(e)).join('\n'))),
        shot('metrics', mutated(JSON.stringify(VALID_METRIC))),
        shot('metrics', mutated(JSON.stringify(metrics))),
      ),
    );
  }, 300_000);

  it('still serves valid input afterwards', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/events',
      headers: { authorization: `Bearer ${token}` },
      payload: VALID_EVENT,
    });
    expect(res.statusCode).toBe(202);
    expect([...statuses.keys()]).toContain(202);
  });
});
