/**
 * Records the gateway seals (KAFKA_SEAL_SECRET) and the writer stores without validating them again:
 *  - for anything the gateway accepts (random events and samples: unicode, escapes, sensitive keys at any depth,
 *    secrets in messages, given and generated ids), the sealed record gives byte for byte the rows and dead letters
 *    the same record gives through the full validation;
 *  - end to end (gateway and writer in separate runtimes, real Kafka and PostgreSQL) the writer verifies the seals
 *    and stores what the gateway accepted, redacted;
 *  - a record with a forged seal, or a genuine seal moved onto other bytes, is validated in full: its invalid item is
 *    dead-lettered and its sensitive tags redacted.
 */
import fc from 'fast-check';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { loadConfig, type Config } from '../shared/config.ts';
import type { ConsumedRecord } from '../shared/kafka/consumer.ts';
import type { BatchingProducer, BundleItem } from '../shared/kafka/producer.ts';
import { RecordSeal } from '../shared/kafka/seal.ts';
import { HEADER_PRODUCER, HEADER_SCHEMA, HEADER_SEAL, PRODUCER_GATEWAY } from '../shared/kafka/topics.ts';
import { Registry } from '../shared/metrics.ts';
import { frameBundle, loadCodecs } from '../shared/schemas/avro.ts';
import { fixedPartitions, keyPartition } from '../shared/kafka/partitioner.ts';
import { parseBody } from '../services/gateway/body.ts';
import { ingest } from '../services/gateway/ingest.ts';
import { eventKind, maxItemValues, metricKind, type ItemKind } from '../services/gateway/kinds.ts';
import { createGatewayMetrics } from '../services/gateway/metrics.ts';
import { CopyRows } from '../services/writer/copy-format.ts';
import { createSinks, type Sink } from '../services/writer/sinks.ts';
import { countRows, createTestContext, waitFor, type TestContext } from './helpers/context.ts';
import { awaitRecords } from './helpers/read-topic.ts';

const SECRET = 'a test seal secret, at least thirty-two bytes long';
const codecs = loadCodecs();
/** Thousands of items through both paths: seconds on a busy machine. */
const PROPERTY_TIMEOUT_MS = 120_000;

/** The bundle the gateway publishes for one JSON body (its items in one bundle), or null when it refuses them all. */
async function published(kind: ItemKind<unknown>, config: Config, body: string): Promise<Buffer | null> {
  let value: Buffer | null = null;
  const producer = {
    publish: async (_topic: string, _headers: Record<string, string>, items: BundleItem[]) => {
      value = frameBundle(
        items.map((i) => Buffer.from(i.value)),
        items.reduce((n, i) => n + i.value.length, 0),
      );
    },
  } as unknown as BatchingProducer;
  const limits = { maxBytes: config.ingest.bodyLimitBytes, maxItems: 5000, maxItemValues: maxItemValues(config) };
  try {
    await ingest(
      kind,
      {
        body: parseBody('application/json', Buffer.from(body), limits, kind),
        requestId: 'req-1',
        requestIdGiven: true,
        createdBy: 'u-1',
      },
      { producer, metrics: createGatewayMetrics(new Registry()), maxBatchItems: 5000 },
    );
  } catch {
    return null; // every item refused: nothing published
  }
  return value;
}

function consumed(value: Buffer, schema: string, seal?: string): ConsumedRecord {
  const headers: Record<string, string> = { [HEADER_SCHEMA]: schema, [HEADER_PRODUCER]: PRODUCER_GATEWAY };
  if (seal !== undefined) headers[HEADER_SEAL] = seal;
  return { offset: '0', key: null, value, headers, timestamp: String(Date.now()) };
}

/** What a sink makes of a record: the COPY bytes, and each row's and dead letter's shape. */
function stored(sink: Sink, record: ConsumedRecord) {
  const out = new CopyRows(64);
  const { rows, dead } = sink.decode(record, out);
  return {
    bytes: out.written().toString('hex'),
    rows: rows.map((r) => [r.start, r.end, r.timestamp, r.givenId, r.index, r.rollup, r.series]),
    dead: dead.map((d) => [d.reason, d.detail]),
  };
}

const sensitiveKey = fc.constantFrom('password', 'X-Api-Key', 'authToken', 'db_pass', 'Cookie', 'author', 'request_id');
const key = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 4 }), sensitiveKey);
const leaf = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.integer(),
  fc.double(),
);
const nested = fc.dictionary(key, fc.oneof(leaf, fc.dictionary(key, leaf, { maxKeys: 3 }), fc.array(leaf)), {
  maxKeys: 5,
});
const event = fc.record(
  {
    id: fc.uuid({ version: 7 }),
    event_type: fc.constantFrom('log', 'trace', 'alert', 'metric', 'bogus'),
    source: fc.oneof(fc.constantFrom('api', 'db', 'vigil-alerter'), fc.string({ unit: 'binary', maxLength: 10 })),
    message: fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.constantFrom('Authorization: Bearer abc.def.ghi', 'card 4111 1111 1111 1111', 'key AKIAABCDEFGHIJKLMNOP'),
    ),
    level: fc.constantFrom('info', 'warn', 'error', 'fatal', 'debug', 'LOUD'),
    tags: nested,
    payload: nested,
    timestamp: fc.integer({ min: -3600, max: 60 }).map((s) => new Date(Date.now() + s * 1000).toISOString()),
  },
  { requiredKeys: ['event_type', 'source'] },
);
const sample = fc.record(
  {
    name: fc.constantFrom('http_requests_total', 'cpu', 'bad name!'),
    metric_type: fc.constantFrom('counter', 'gauge', 'histogram'),
    value: fc.oneof(fc.double(), fc.integer()),
    labels: fc.dictionary(
      fc.oneof(fc.constantFrom('job', 'instance', 'password'), fc.string({ maxLength: 6 })),
      fc.string({ maxLength: 8 }),
      {
        maxKeys: 4,
      },
    ),
    timestamp: fc.integer({ min: -3600, max: 60 }).map((s) => new Date(Date.now() + s * 1000).toISOString()),
  },
  { requiredKeys: ['name', 'value'] },
);

describe('sealed records', () => {
  it(
    'a sealed record stores exactly what its full validation stores',
    async () => {
      const config = loadConfig({ KAFKA_SEAL_SECRET: SECRET, INGEST_REDACT_SECRETS: 'true' });
      const seal = new RecordSeal(SECRET);
      const [eventSink, metricSink] = createSinks(config, codecs);
      // The full path as it runs without a secret (with one, an unsealed record naming the gateway is a direct
      // producer's and loses the items' created_by).
      const [eventFull, metricFull] = createSinks(loadConfig({ INGEST_REDACT_SECRETS: 'true' }), codecs);
      const partitions = fixedPartitions(3);
      const events = eventKind(config, codecs.get('Event')!, codecs.get('EventBundle')!, partitions);
      const metrics = metricKind(config, codecs.get('Metric')!, codecs.get('MetricBundle')!, partitions);
      let sealedRows = 0;
      const cases: Array<[ItemKind<unknown>, Sink, Sink, fc.Arbitrary<unknown>, string]> = [
        [events as ItemKind<unknown>, eventSink, eventFull, event, codecs.get('EventBundle')!.schemaId],
        [metrics as ItemKind<unknown>, metricSink, metricFull, sample, codecs.get('MetricBundle')!.schemaId],
      ];
      for (const [kind, sink, fullSink, item, schema] of cases) {
        await fc.assert(
          fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 20 }), async (items) => {
            const value = await published(kind, config, JSON.stringify(items));
            if (value === null) return;
            const context = { topic: sink.topic, schema, producer: PRODUCER_GATEWAY };
            const sealed = stored(sink, consumed(value, schema, seal.sign(context, value)));
            const full = stored(fullSink, consumed(value, schema));
            expect(sealed).toEqual(full);
            sealedRows += sealed.rows.length;
          }),
          { numRuns: 300 },
        );
      }
      expect(sealedRows).toBeGreaterThan(1000);
    },
    PROPERTY_TIMEOUT_MS,
  );

  describe('through Kafka and PostgreSQL', () => {
    let ctx: TestContext;
    let api: Runtime;
    let writer: Runtime;
    let producer: Producer;

    beforeAll(async () => {
      ctx = await createTestContext({ KAFKA_SEAL_SECRET: SECRET });
      api = await ctx.start('gateway');
      writer = await ctx.start('writer');
      producer = await ctx.producer();
    });
    afterAll(() => ctx?.cleanup());

    const sealCounts = async () => {
      const metric = await writer.registry.getSingleMetric('vigil_writer_sealed_records_total')!.get();
      return Object.fromEntries(metric.values.map((v) => [v.labels.seal, v.value]));
    };

    it('the writer verifies the gateway seals and stores what the gateway accepted', async () => {
      const body = Array.from({ length: 50 }, (_, i) => ({
        event_type: 'log',
        source: `sealed-${i % 5}`,
        level: i % 2 ? 'warn' : 'info',
        message: i === 7 ? 'token Bearer abc.def.ghi' : `event ${i}`,
        tags: { i, password: 'hunter2' },
      }));
      const res = await api.app.inject({
        method: 'POST',
        url: '/api/v1/monitoring/events',
        headers: { authorization: `Bearer ${ctx.token('user', 'sealer')}`, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      expect(res.statusCode).toBe(202);
      expect(res.json().data.accepted).toBe(50);
      await waitFor(
        () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source LIKE 'sealed-%'"),
        (n) => n === 50,
      );
      const { rows } = await ctx.db.query(
        `SELECT tags, message, created_by FROM events WHERE source = 'sealed-2' AND tags->>'i' = '7'`,
      );
      expect(rows).toEqual([
        {
          tags: { i: 7, password: '[REDACTED]' }, // a batch gets no generated request id
          message: 'token Bearer [REDACTED]',
          created_by: 'sealer',
        },
      ]);
      const counts = await sealCounts();
      // One request, one send: a bundle per partition its five sources map to.
      const partitions = new Set(body.map((e) => keyPartition(e.source, ctx.config.kafka.partitions)));
      expect(counts.verified).toBe(partitions.size);
      expect(counts.refused ?? 0).toBe(0);
    });

    it('a forged seal, or a genuine one on other bytes, is validated in full', async () => {
      const topic = ctx.config.kafka.topics.events;
      const bundle = codecs.get('EventBundle')!;
      const item = codecs.get('Event')!;
      const at = Date.now() - 60_000;
      const encode = (id: string, level: string, tags: object) =>
        item.encode({
          id,
          event_type: 'log',
          source: 'forged',
          message: 'm',
          level,
          tags: JSON.stringify(tags),
          payload: '{}',
          timestamp: at,
          created_by: 'someone-else',
          id_given: true,
        });
      const parts = [
        encode('0190b1c2-7a4e-7cc0-8a6e-0000000000f1', 'info', { password: 'hunter2' }),
        encode('0190b1c2-7a4e-7cc0-8a6e-0000000000f2', 'LOUD', {}),
      ];
      const value = frameBundle(parts, parts[0].length + parts[1].length);
      const context = { topic, schema: bundle.schemaId, producer: PRODUCER_GATEWAY };
      // A genuine seal, made for other bytes (what a reader of the topic could copy), and one made with another secret.
      const moved = new RecordSeal(SECRET).sign(context, Buffer.from('other bytes'));
      const forged = new RecordSeal('another secret, at least thirty-two bytes').sign(context, value);
      const before = await sealCounts();
      for (const seal of [moved, forged]) {
        await producer.send({
          topic,
          messages: [
            {
              key: 'forged',
              value,
              headers: { [HEADER_SCHEMA]: bundle.schemaId, [HEADER_PRODUCER]: PRODUCER_GATEWAY, [HEADER_SEAL]: seal },
            },
          ],
        });
      }
      const letters = await awaitRecords(ctx.kafkajs, ctx.config.kafka.topics.dlq, 2);
      expect(letters.map((l) => l.headers['vigil-dlq-reason'])).toEqual(['invalid', 'invalid']);
      expect(letters.map((l) => l.headers['vigil-dlq-item'])).toEqual(['1', '1']);
      expect(letters[0].headers['vigil-dlq-detail']).toContain('level');
      // Both copies carry the same valid item (one id): stored once, redacted.
      await waitFor(
        () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source = 'forged'"),
        (n) => n === 1,
      );
      const { rows } = await ctx.db.query(`SELECT id, tags FROM events WHERE source = 'forged'`);
      expect(rows).toEqual([{ id: '0190b1c2-7a4e-7cc0-8a6e-0000000000f1', tags: { password: '[REDACTED]' } }]);
      const after = await sealCounts();
      expect((after.refused ?? 0) - (before.refused ?? 0)).toBe(2);
      expect(after.verified).toBe(before.verified);
    });
  });
});
