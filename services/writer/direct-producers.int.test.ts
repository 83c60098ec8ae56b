/**
 * Kafka as an ingestion API: records published straight to the events and metrics topics, as JSON (with the
 * content-type header, or detected) and as Avro (current schema, and a v1 schema from before created_by was added),
 * are stored and queryable, with the gateway's redaction of sensitive keys; invalid or undecodable ones land in the DLQ
 * with their bytes, key and provenance headers and are counted by reason; rollups count exactly what was stored, a
 * record published twice once.
 */
import fs from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../../shared/config.ts';
import { loadCodecs } from '../../shared/schemas/avro.ts';
import { RecordSeal } from '../../shared/kafka/seal.ts';
import { seriesFingerprint } from '../../shared/schemas/metric.ts';
import { countRows, createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { awaitRecords } from '../../test/helpers/read-topic.ts';
import type { Runtime } from '../../bin/runtime.ts';

const codecs = loadCodecs();
const JSON_HEADERS = { 'content-type': 'application/json' };

function v1(file: string): { type: avro.Type; schemaId: string } {
  const type = avro.Type.forSchema(
    JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'schemas', 'history', file), 'utf8')),
  );
  return { type, schemaId: `${type.name}@${type.fingerprint('md5').toString('hex')}` };
}

async function metricValue(runtime: Runtime, name: string): Promise<Record<string, number>> {
  const metric = await runtime.registry.getSingleMetric(name)!.get();
  return Object.fromEntries(metric.values.map((v) => [Object.values(v.labels).join('/'), v.value]));
}

describe('direct Kafka producers', () => {
  let ctx: TestContext;
  let writer: Runtime;
  let producer: Producer;
  const at = (minutesAgo: number) => new Date(Math.floor(Date.now() / 60_000) * 60_000 - minutesAgo * 60_000);
  const t1 = at(3);
  const t2 = at(2);

  beforeAll(async () => {
    ctx = await createTestContext();
    writer = await ctx.start('writer');
    producer = await ctx.producer();
  });
  afterAll(() => ctx?.cleanup());

  it('stores JSON and Avro events and metrics (current and v1 schema), dead-letters the bad ones', async () => {
    const events = ctx.config.kafka.topics.events;
    const metrics = ctx.config.kafka.topics.metrics;
    const eventCodec = codecs.get('Event')!;
    const metricCodec = codecs.get('Metric')!;
    const eventV1 = v1('event-v1.avsc');
    const metricV1 = v1('metric-v1.avsc');
    const ids = {
      json: '0190b1c2-7a4e-7cc0-8a6e-000000000001',
      detected: '0190b1c2-7a4e-7cc0-8a6e-000000000002',
      avro: '0190b1c2-7a4e-7cc0-8a6e-000000000003',
      old: '0190b1c2-7a4e-7cc0-8a6e-000000000004',
      mJson: '0190b1c2-7a4e-7cc0-8a6e-000000000011',
      mDetected: '0190b1c2-7a4e-7cc0-8a6e-000000000012',
      mAvro: '0190b1c2-7a4e-7cc0-8a6e-000000000013',
      mOld: '0190b1c2-7a4e-7cc0-8a6e-000000000014',
    };
    const jsonEvent = {
      id: ids.json,
      event_type: 'log',
      source: 'kcat-json',
      message: 'with header',
      level: 'warn',
      tags: { env: 'prod' },
      timestamp: t1.toISOString(),
    };
    await producer.send({
      topic: events,
      messages: [
        { key: 'kcat-json', value: JSON.stringify(jsonEvent), headers: JSON_HEADERS },
        {
          key: 'kcat-detected',
          value: JSON.stringify({
            id: ids.detected,
            event_type: 'trace',
            source: 'kcat-detected',
            tags: { password: 'hunter2' },
            payload: { span: 'a', deep: { api_key: 'k' } },
            timestamp: t1.getTime(),
          }),
        },
        {
          key: 'avro-svc',
          value: eventCodec.encode({
            id: ids.avro,
            event_type: 'alert',
            source: 'avro-svc',
            message: 'current schema',
            level: 'error',
            tags: '{}',
            payload: '{"n":1}',
            timestamp: t2.getTime(),
            created_by: 'svc-account',
          }),
          headers: { 'vigil-schema': eventCodec.schemaId },
        },
        {
          key: 'legacy',
          value: eventV1.type.toBuffer({
            id: ids.old,
            event_type: 'log',
            source: 'legacy',
            message: 'v1 schema',
            level: 'info',
            tags: '{"v":"1"}',
            payload: '{}',
            timestamp: t2.getTime(),
          }),
          headers: { 'vigil-schema': eventV1.schemaId, 'vigil-producer': 'legacy-app' },
        },
        // Dead letters: invalid, undecodable, unknown schema.
        { key: 'bad', value: JSON.stringify({ event_type: 'nope', source: 'bad' }), headers: JSON_HEADERS },
        { key: 'bad', value: 'not json at all', headers: JSON_HEADERS },
        {
          key: 'bad',
          value: Buffer.from([1, 2, 3]),
          headers: { 'vigil-schema': 'vigil.monitoring.Event@00000000000000000000000000000000' },
        },
        // The JSON event again (a producer retry): stored once, counted once.
        { key: 'kcat-json', value: JSON.stringify(jsonEvent), headers: JSON_HEADERS },
      ],
    });
    const labels = { method: 'GET', code: '200' };
    await producer.send({
      topic: metrics,
      messages: [
        {
          key: seriesFingerprint('http_requests_total', labels),
          value: JSON.stringify({
            id: ids.mJson,
            name: 'http_requests_total',
            metric_type: 'counter',
            value: 5,
            labels,
            timestamp: t1.toISOString(),
          }),
          headers: JSON_HEADERS,
        },
        {
          key: seriesFingerprint('queue_depth', {}),
          value: JSON.stringify({
            id: ids.mDetected,
            name: 'queue_depth',
            metric_type: 'gauge',
            value: -2.5,
            timestamp: t1.getTime(),
          }),
        },
        {
          key: seriesFingerprint('latency_seconds', {}),
          value: metricCodec.encode({
            id: ids.mAvro,
            name: 'latency_seconds',
            metric_type: 'histogram',
            value: 0.25,
            labels: {},
            timestamp: t2.getTime(),
            created_by: 'svc-account',
          }),
          headers: { 'vigil-schema': metricCodec.schemaId },
        },
        {
          key: seriesFingerprint('legacy_total', { job: 'old' }),
          value: metricV1.type.toBuffer({
            id: ids.mOld,
            name: 'legacy_total',
            metric_type: 'counter',
            value: 7,
            labels: { job: 'old' },
            timestamp: t2.getTime(),
          }),
          headers: { 'vigil-schema': metricV1.schemaId },
        },
        {
          key: 'bad',
          value: JSON.stringify({ name: '1bad name', metric_type: 'counter', value: 1 }),
          headers: JSON_HEADERS,
        },
      ],
    });

    // Every record is accounted for: offsets stored for all 13 records: 8 rows, 4 dead letters, 1 duplicate.
    await waitFor(
      async () =>
        (await ctx.db.query<{ n: string }>('SELECT coalesce(sum(next_offset), 0) AS n FROM consumer_offsets')).rows[0]
          .n,
      (n) => Number(n) === 13,
    );
    const { rows: storedEvents } = await ctx.db.query(
      `SELECT id, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS timestamp, event_type,
         source, level, message, tags, payload, created_by
         FROM events ORDER BY id`,
    );
    expect(storedEvents).toEqual([
      {
        id: ids.json,
        timestamp: t1.toISOString(),
        event_type: 'log',
        source: 'kcat-json',
        level: 'warn',
        message: 'with header',
        tags: { env: 'prod' },
        payload: {},
        created_by: 'kafka:direct',
      },
      {
        id: ids.detected,
        timestamp: t1.toISOString(),
        event_type: 'trace',
        source: 'kcat-detected',
        level: null,
        message: null,
        tags: { password: '[REDACTED]' },
        payload: { span: 'a', deep: { api_key: '[REDACTED]' } },
        created_by: 'kafka:direct',
      },
      // An Avro item's created_by is not its creator's word: without a vigil-producer header it is kafka:direct.
      {
        id: ids.avro,
        timestamp: t2.toISOString(),
        event_type: 'alert',
        source: 'avro-svc',
        level: 'error',
        message: 'current schema',
        tags: {},
        payload: { n: 1 },
        created_by: 'kafka:direct',
      },
      {
        id: ids.old,
        timestamp: t2.toISOString(),
        event_type: 'log',
        source: 'legacy',
        level: 'info',
        message: 'v1 schema',
        tags: { v: '1' },
        payload: {},
        created_by: 'kafka:legacy-app',
      },
    ]);
    const { rows: storedMetrics } = await ctx.db.query(
      `SELECT id, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS timestamp, name,
         metric_type, value, labels, created_by
         FROM metrics ORDER BY id`,
    );
    expect(storedMetrics).toEqual([
      {
        id: ids.mJson,
        timestamp: t1.toISOString(),
        name: 'http_requests_total',
        metric_type: 'counter',
        value: 5,
        labels,
        created_by: 'kafka:direct',
      },
      {
        id: ids.mDetected,
        timestamp: t1.toISOString(),
        name: 'queue_depth',
        metric_type: 'gauge',
        value: -2.5,
        labels: {},
        created_by: 'kafka:direct',
      },
      {
        id: ids.mAvro,
        timestamp: t2.toISOString(),
        name: 'latency_seconds',
        metric_type: 'histogram',
        value: 0.25,
        labels: {},
        created_by: 'kafka:direct',
      },
      {
        id: ids.mOld,
        timestamp: t2.toISOString(),
        name: 'legacy_total',
        metric_type: 'counter',
        value: 7,
        labels: { job: 'old' },
        created_by: 'kafka:direct',
      },
    ]);

    // Rollups: per minute, exactly the stored rows (the retried JSON event once).
    const { rows: rollups } = await ctx.db.query(
      `SELECT to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS bucket, kind, event_type, source,
         level, count::int AS count
         FROM rollups ORDER BY kind, source`,
    );
    expect(rollups).toEqual([
      { bucket: t2.toISOString(), kind: 'event', event_type: 'alert', source: 'avro-svc', level: 'error', count: 1 },
      { bucket: t1.toISOString(), kind: 'event', event_type: 'trace', source: 'kcat-detected', level: '', count: 1 },
      { bucket: t1.toISOString(), kind: 'event', event_type: 'log', source: 'kcat-json', level: 'warn', count: 1 },
      { bucket: t2.toISOString(), kind: 'event', event_type: 'log', source: 'legacy', level: 'info', count: 1 },
      {
        bucket: t1.toISOString(),
        kind: 'metric',
        event_type: 'counter',
        source: 'http_requests_total',
        level: '',
        count: 1,
      },
      {
        bucket: t2.toISOString(),
        kind: 'metric',
        event_type: 'histogram',
        source: 'latency_seconds',
        level: '',
        count: 1,
      },
      { bucket: t2.toISOString(), kind: 'metric', event_type: 'counter', source: 'legacy_total', level: '', count: 1 },
      { bucket: t1.toISOString(), kind: 'metric', event_type: 'gauge', source: 'queue_depth', level: '', count: 1 },
    ]);

    // The all-time totals moved with them: the stored rows only, per kind (the dead letters below are not counted).
    const { rows: totals } = await ctx.db.query(
      `SELECT kind, sum(count)::int AS count FROM ingest_totals GROUP BY kind ORDER BY kind`,
    );
    expect(totals).toEqual([
      { kind: 'event', count: 4 },
      { kind: 'metric', count: 4 },
    ]);

    // Dead letters: original key and bytes, the original headers, reason and provenance.
    const letters = await awaitRecords(ctx.kafkajs, ctx.config.kafka.topics.dlq, 4);
    const summary = letters
      .map((l) => ({
        reason: l.headers['vigil-dlq-reason'],
        topic: l.headers['vigil-dlq-topic'],
        key: l.key?.toString(),
        value: l.value?.toString('hex'),
        contentType: l.headers['content-type'],
        provenance:
          /^\d+$/.test(l.headers['vigil-dlq-partition']) &&
          /^\d+$/.test(l.headers['vigil-dlq-offset']) &&
          !Number.isNaN(Date.parse(l.headers['vigil-dlq-at'])),
      }))
      .sort((a, b) => `${a.topic}${a.reason}`.localeCompare(`${b.topic}${b.reason}`));
    expect(summary).toEqual(
      [
        {
          reason: 'decode_failed',
          topic: events,
          key: 'bad',
          value: Buffer.from('not json at all').toString('hex'),
          contentType: 'application/json',
          provenance: true,
        },
        {
          reason: 'invalid',
          topic: events,
          key: 'bad',
          value: Buffer.from(JSON.stringify({ event_type: 'nope', source: 'bad' })).toString('hex'),
          contentType: 'application/json',
          provenance: true,
        },
        {
          reason: 'unknown_schema',
          topic: events,
          key: 'bad',
          value: '010203',
          contentType: undefined,
          provenance: true,
        },
        {
          reason: 'invalid',
          topic: metrics,
          key: 'bad',
          value: Buffer.from(JSON.stringify({ name: '1bad name', metric_type: 'counter', value: 1 })).toString('hex'),
          contentType: 'application/json',
          provenance: true,
        },
      ].sort((a, b) => `${a.topic}${a.reason}`.localeCompare(`${b.topic}${b.reason}`)),
    );
    const invalidEvent = letters.find(
      (l) => l.headers['vigil-dlq-reason'] === 'invalid' && l.headers['vigil-dlq-topic'] === events,
    )!;
    expect(invalidEvent.headers['vigil-dlq-detail']).toBe(
      'event_type: must be one of log, metric, trace, alert, got "nope"',
    );

    // The writer's own telemetry.
    expect(await metricValue(writer, 'vigil_dlq_records_total')).toEqual({
      [`${events}/decode_failed`]: 1,
      [`${events}/invalid`]: 1,
      [`${events}/unknown_schema`]: 1,
      [`${metrics}/invalid`]: 1,
    });
    expect(await metricValue(writer, 'vigil_writer_rows_total')).toEqual({ events: 4, metrics: 4 });
    expect(await metricValue(writer, 'vigil_writer_duplicates_total')).toEqual({ events: 1 });
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events')).toBe(4);
  });

  it('stores created_by = kafka:<vigil-producer header> for direct records, whatever the item says', async () => {
    const events = ctx.config.kafka.topics.events;
    const metrics = ctx.config.kafka.topics.metrics;
    const id = (n: number) => `0190b1c2-7a4e-7cc0-8a6e-00000000010${n}`;
    const producerHeader = { 'vigil-producer': 'batch-job' };
    const storedOffsets = async () =>
      Number(
        (await ctx.db.query<{ n: string }>('SELECT coalesce(sum(next_offset), 0) AS n FROM consumer_offsets')).rows[0]
          .n,
      );
    const before = await storedOffsets();
    const eventCodec = codecs.get('Event')!;
    const eventBundle = codecs.get('EventBundle')!;
    const avroEvent = (n: number, createdBy: string) => ({
      id: id(n),
      event_type: 'log',
      source: 'claims',
      message: null,
      level: null,
      tags: '{}',
      payload: '{}',
      timestamp: t1.getTime(),
      created_by: createdBy,
    });
    const gatewayValue = eventBundle.encode({ events: [avroEvent(7, 'token-subject')] });
    const jsonEvent = (n: number, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ id: id(n), event_type: 'log', source: 'claims', timestamp: t1.getTime(), ...extra });
    await producer.send({
      topic: events,
      acks: -1,
      messages: [
        {
          key: 'claims',
          value: jsonEvent(1, { created_by: 'admin' }),
          headers: { ...JSON_HEADERS, ...producerHeader },
        },
        {
          key: 'claims',
          value: jsonEvent(2, { message: 'sent Bearer t0k3n' }),
          headers: { ...JSON_HEADERS, ...producerHeader },
        },
        {
          key: 'claims',
          value: eventCodec.encode(avroEvent(3, 'admin')),
          headers: { 'vigil-schema': eventCodec.schemaId, ...producerHeader },
        },
        // The gateway's own records keep the token subject it wrote into each item: with KAFKA_SEAL_SECRET set (as
        // the test context runs), only a sealed one; the header alone is a direct producer's claim.
        {
          key: 'claims',
          value: eventBundle.encode({ events: [avroEvent(4, 'token-subject')] }),
          headers: { 'vigil-schema': eventBundle.schemaId, 'vigil-producer': 'gateway' },
        },
        {
          key: 'claims',
          value: gatewayValue,
          headers: {
            'vigil-schema': eventBundle.schemaId,
            'vigil-producer': 'gateway',
            'vigil-seal': new RecordSeal(ctx.config.kafka.sealSecret!).sign(
              { topic: events, schema: eventBundle.schemaId, producer: 'gateway' },
              gatewayValue,
            ),
          },
        },
      ],
    });
    const metricCodec = codecs.get('Metric')!;
    const key = seriesFingerprint('claims_total', {});
    const sample = { name: 'claims_total', metric_type: 'counter', value: 1, labels: {}, timestamp: t1.getTime() };
    await producer.send({
      topic: metrics,
      acks: -1,
      messages: [
        {
          key,
          value: metricCodec.encode({ ...sample, labels: { api_key: 'k' }, id: id(5), created_by: 'admin' }),
          headers: { 'vigil-schema': metricCodec.schemaId, ...producerHeader },
        },
        {
          key,
          value: JSON.stringify({ ...sample, id: id(6), created_by: 'admin' }),
          headers: { ...JSON_HEADERS, ...producerHeader },
        },
      ],
    });

    await waitFor(storedOffsets, (n) => n === before + 7);
    const { rows: stored } = await ctx.db.query(
      `SELECT id, message, created_by FROM events WHERE source = 'claims' ORDER BY id`,
    );
    expect(stored).toEqual([
      { id: id(2), message: 'sent Bearer [REDACTED]', created_by: 'kafka:batch-job' },
      { id: id(3), message: null, created_by: 'kafka:batch-job' },
      { id: id(4), message: null, created_by: 'kafka:gateway' },
      { id: id(7), message: null, created_by: 'token-subject' },
    ]);
    // Redaction applies to direct records as to HTTP input: message secrets above, metric labels here.
    const { rows: samples } = await ctx.db.query(
      `SELECT id, labels, created_by FROM metrics WHERE name = 'claims_total' ORDER BY id`,
    );
    expect(samples).toEqual([{ id: id(5), labels: { api_key: '[REDACTED]' }, created_by: 'kafka:batch-job' }]);

    const refused =
      'created_by: is not accepted on a record: it is set to kafka:<vigil-producer header> (send that header instead)';
    const letters = (await awaitRecords(ctx.kafkajs, ctx.config.kafka.topics.dlq, before === 0 ? 2 : 6)).filter(
      (l) => l.key?.toString() !== 'bad',
    );
    expect(
      letters
        .map((l) => [
          l.headers['vigil-dlq-topic'],
          l.headers['vigil-dlq-reason'],
          l.headers['vigil-dlq-detail'],
          JSON.parse(l.value!.toString()).id,
        ])
        .sort(),
    ).toEqual([
      [events, 'invalid', refused, id(1)],
      [metrics, 'invalid', refused, id(6)],
    ]);
  });
});
