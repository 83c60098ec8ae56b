/**
 * Differential check of the gateway's ingest path against another checkout of vigil (the code before a change):
 * the same random and hostile bodies — valid events, wrong types, unknown fields, sensitive keys and secret shapes
 * to redact, deep nesting, NUL and lone surrogates, oversized tags, request ids, JSON arrays, batch objects and
 * NDJSON — go through both checkouts' body splitter, per-item work and Avro encoding, with a producer that keeps
 * what it is given. The answers (202 bodies, or the error's code, message and details) and the Kafka records (the
 * bytes, the header set and the bundle each item goes into) must be identical; ids the gateway generates (random
 * by design) are the only bytes compared by shape rather than value.
 *
 *   node --import tsx bench/ingest-differential.ts --base /path/to/other/checkout [--runs 3000]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadGatewayCheckout } from './gateway-checkout.ts';
import fc from 'fast-check';

const { values } = parseArgs({
  options: { base: { type: 'string' }, runs: { type: 'string', default: '3000' } },
});
if (!values.base) throw new Error('--base <checkout> is required: the vigil checkout to compare with');
const roots = { base: path.resolve(values.base), here: path.resolve(import.meta.dirname, '..') };
const RUNS = Number(values.runs);
const GENERATED_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Published {
  topic: string;
  headers: Record<string, string>;
  items: { into: string | number; value: string }[];
}
type Run = (contentType: string, body: Buffer, requestIdGiven: boolean) => Promise<unknown>;

async function load(root: string): Promise<Run> {
  const { config, codecs, kind, metrics, parseBody, ingest, maxItemValues } = await loadGatewayCheckout(root);
  // Small enough that some bodies are split item by item, large enough that most are parsed whole.
  const limits = { maxBytes: config.ingest.bodyLimitBytes, maxItems: 50, maxItemValues };
  const codec = codecs.get('Event');
  return async (contentType, body, requestIdGiven) => {
    const published: Published[] = [];
    const producer = {
      publish: async (topic: string, headers: Record<string, string>, items: { into: string; value: Buffer }[]) => {
        published.push({ topic, headers, items: items.map(({ into, value }) => ({ into, value: maskId(value) })) });
      },
    };
    try {
      const parsed = parseBody(contentType, body, limits, kind);
      const answer = await ingest(
        kind,
        { body: parsed, requestId: 'req-1', requestIdGiven, createdBy: 'diff' },
        { producer, metrics, maxBatchItems: 50 },
      );
      return { answer: maskIds(answer), published };
    } catch (error) {
      const { code, message, details } = error as { code?: string; message: string; details?: unknown };
      return { error: { code, message, details }, published };
    }
  };

  /** The record's bytes in hex, those of a generated id (the first field) replaced by a marker. */
  function maskId(value: Buffer): string {
    const record = codec.decode(Buffer.from(value), codec.schemaId) as { id: string; id_given: boolean };
    if (record.id_given || !GENERATED_UUID.test(record.id)) return value.toString('hex');
    const idBytes = 1 + record.id.length; // a one-byte length, then the id
    return `<uuidv7>${value.subarray(idBytes).toString('hex')}`;
  }
}

/** The value with generated ids replaced by a marker (the only part allowed to differ between two runs). */
function maskIds(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'string' && GENERATED_UUID.test(v) ? '<uuidv7>' : v));
}

const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, 0, -0, 1e308, 2 ** 53, '', ' ', '\u0000', '\ud800', '\\u0000', '日本語', '__proto__'),
  fc.string({ maxLength: 80 }),
);
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: nasty, weight: 1 });
const sensitiveKey = fc.constantFrom('password', 'X-Api-Key', 'authToken', 'author', 'db_pass', 'passenger', 'Cookie');
const key = fc.oneof(fc.string({ maxLength: 10 }), sensitiveKey, fc.constant('request_id'));
const deep = (levels: number): unknown => (levels === 0 ? 1 : { d: [deep(levels - 1)] });
const tagsLike = fc.oneof(
  fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 8 }),
  fc.constant({ headers: [{ name: 'Authorization', value: 'Bearer x' }] }),
  fc.integer({ min: 10, max: 40 }).map((n) => ({ nested: deep(n) })),
  fc.integer({ min: 60, max: 70 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
  fc.constant({ big: 'x'.repeat(9000) }),
  fc.constant({ surrogate: '\ud800', escaped: '\udc00x' }),
);
const message = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.constantFrom(
    'Authorization: Bearer abc.def-ghi',
    'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
    'key AKIAABCDEFGHIJKLMNOP used',
    'card 4111 1111 1111 1111 and 1234 5678 9012 3456',
    'x'.repeat(8200),
  ),
);
const recent = fc.integer({ min: -86_400, max: 600 }).map((s) => new Date(Date.now() + s * 1000).toISOString());
const event = fc.record(
  {
    id: mostly(fc.oneof(fc.uuid(), fc.uuid({ version: 7 }))),
    event_type: mostly(fc.constantFrom('log', 'metric', 'trace', 'alert')),
    source: mostly(fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constant('vigil-alerter'))),
    message: mostly(message),
    level: mostly(fc.constantFrom('info', 'error', 'fatal')),
    tags: mostly(tagsLike),
    payload: mostly(tagsLike),
    timestamp: mostly(fc.oneof(recent, fc.integer({ min: Date.now() - 1e9, max: Date.now() }))),
    extra: nasty,
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  event.map((e) => ({ type: 'application/json', text: JSON.stringify(e) })),
  fc.array(event, { maxLength: 12 }).map((es) => ({ type: 'application/json', text: JSON.stringify(es) })),
  fc.array(event, { maxLength: 6 }).map((es) => ({ type: 'application/json', text: JSON.stringify({ events: es }) })),
  fc.array(event, { minLength: 1, maxLength: 6 }).map((es) => ({
    type: 'application/x-ndjson',
    text: es.map((e) => JSON.stringify(e)).join('\n'),
  })),
  fc
    .array(event, { minLength: 1, maxLength: 60 })
    .map((es) => ({ type: 'application/json', text: JSON.stringify(es) })),
  fc.string({ maxLength: 200 }).map((text) => ({ type: 'application/json', text })),
);

const base = await load(roots.base);
const here = await load(roots.here);
let compared = 0;
await fc.assert(
  fc.asyncProperty(body, fc.boolean(), async ({ type, text }, requestIdGiven) => {
    const bytes = Buffer.from(text);
    // Both see the same clock: items without a timestamp get the arrival time.
    const now = Date.now();
    const realNow = Date.now;
    Date.now = () => now;
    let a: unknown;
    let b: unknown;
    try {
      a = await base(type, bytes, requestIdGiven);
      b = await here(type, bytes, requestIdGiven);
    } finally {
      Date.now = realNow;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      throw new Error(`outputs differ for ${type} ${text.slice(0, 500)}:\n${JSON.stringify(a)}\n${JSON.stringify(b)}`);
    }
    compared++;
  }),
  { numRuns: RUNS },
);
console.log(`${compared} bodies: answers and Kafka records identical between ${roots.base} and ${roots.here}`);
