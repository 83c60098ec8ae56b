/**
 * Bundles from direct producers: an Avro EventBundle (current schema, and a bundle of v1 events written before
 * created_by was added), JSON arrays (with the content-type header, and detected), a MetricBundle. Every valid item
 * is stored; an invalid item goes to the DLQ alone (the item's own bytes and encoding
 * header, provenance and its index in the bundle) while the rest of its bundle is stored; an undecodable bundle
 * and an empty one go whole; a bundle sent twice is stored once. Offsets advance by records, rows and totals
 * by items.
 */
import fs from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../../shared/config.ts';
import { loadCodecs } from '../../shared/schemas/avro.ts';
import { countRows, createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { awaitRecords } from '../../test/helpers/read-topic.ts';
import type { Runtime } from '../../bin/runtime.ts';

const codecs = loadCodecs();
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('bundles from direct producers', () => {
  let ctx: TestContext;
  let writer: Runtime;

  beforeAll(async () => {
    ctx = await createTestContext({ KAFKA_TOPIC_PARTITIONS: '1' });
    writer = await ctx.start('writer');
  });
  afterAll(() => ctx?.cleanup());

  it('stores the valid items of Avro and JSON bundles, dead-letters bad items alone, bad bundles whole', async () => {
    const events = ctx.config.kafka.topics.events;
    const metrics = ctx.config.kafka.topics.metrics;
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
    const id = (n: number) => `0190b1c2-7a4e-7cc0-8a6e-${String(n).padStart(12, '0')}`;
    const avroEvent = (n: number, extra: Record<string, unknown> = {}) => ({
      id: id(n),
      event_type: 'log',
      source: 'bundler',
      message: `item ${n}`,
      level: 'info',
      tags: '{"k":"v"}',
      payload: '{}',
      timestamp: minute,
      created_by: null,
      id_given: true,
      ...extra,
    });
    const bundle = codecs.get('EventBundle')!;
    const eventV1 = avro.Type.forSchema(
      JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'schemas', 'history', 'event-v1.avsc'), 'utf8')),
    );
    const bundleV1 = avro.Type.forSchema(
      JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'schemas', 'event-bundle.avsc'), 'utf8')),
      { registry: { 'vigil.monitoring.Event': eventV1 } },
    );
    const bundleV1Id = `${bundleV1.name}@${bundleV1.fingerprint('md5').toString('hex')}`;
    const { created_by: _, ...v1Fields } = avroEvent(0);
    const invalidItem = avroEvent(2, { event_type: 'nope' });
    const avroBundle = {
      key: 'bundler',
      value: bundle.encode({
        events: [
          avroEvent(1, { created_by: 'svc-account' }),
          invalidItem,
          avroEvent(3, { tags: '{"password":"p","k":"v"}' }),
        ],
      }),
      headers: { 'vigil-schema': bundle.schemaId, 'vigil-producer': 'bundler' },
    };
    const jsonArray = JSON.stringify([
      { id: id(11), event_type: 'trace', source: 'kcat', timestamp: minute },
      { id: id(12), event_type: 'log', source: 'kcat', colour: 'red' },
      { id: id(13), event_type: 'log', source: 'kcat', tags: { bad: '\ud800' }, timestamp: minute },
      {
        id: id(14),
        event_type: 'log',
        source: 'kcat',
        level: 'warn',
        payload: { token: 't', n: 1 },
        timestamp: minute,
      },
    ]);
    const detected = JSON.stringify([{ id: id(21), event_type: 'alert', source: 'detected', timestamp: minute }]);
    const producer = ctx.kafkajs.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      await producer.send({
        topic: events,
        acks: -1,
        messages: [
          avroBundle, // offset 0
          {
            key: 'legacy',
            value: bundleV1.toBuffer({
              events: [
                { ...v1Fields, id: id(5), source: 'legacy' },
                { ...v1Fields, id: id(6), source: 'legacy' },
              ],
            }),
            headers: { 'vigil-schema': bundleV1Id },
          }, // 1
          { key: 'kcat', value: jsonArray, headers: { ...JSON_HEADERS, 'x-trace': 't1' } }, // 2
          { key: 'detected', value: detected }, // 3
          { key: 'broken', value: Buffer.from([0x06, 0x01]), headers: { 'vigil-schema': bundle.schemaId } }, // 4
          { key: 'empty', value: '[]', headers: JSON_HEADERS }, // 5
          { key: 'detected', value: detected }, // 6: a resend, stored once
        ],
      });
      const metricBundle = codecs.get('MetricBundle')!;
      const sample = (n: number, extra: Record<string, unknown> = {}) => ({
        id: id(100 + n),
        name: 'queue_depth',
        metric_type: 'gauge',
        value: n,
        labels: { queue: `q${n}` },
        timestamp: minute,
        created_by: null,
        ...extra,
      });
      await producer.send({
        topic: metrics,
        acks: -1,
        messages: [
          {
            key: null,
            value: metricBundle.encode({ metrics: [sample(1), sample(2, { name: '2bad' }), sample(3)] }),
            headers: { 'vigil-schema': metricBundle.schemaId },
          },
        ],
      });
    } finally {
      await producer.disconnect();
    }

    // Every record accounted for: 7 event records and 1 metric record.
    await waitFor(
      async () =>
        (await ctx.db.query<{ n: string }>('SELECT coalesce(sum(next_offset), 0) AS n FROM consumer_offsets')).rows[0]
          .n,
      (n) => Number(n) === 8,
    );
    const at = new Date(minute).toISOString();
    const { rows: stored } = await ctx.db.query(
      `SELECT id, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS timestamp, event_type, ` +
        `source, level, message, tags, payload, created_by FROM events ORDER BY id`,
    );
    expect(stored).toEqual([
      {
        id: id(1),
        timestamp: at,
        event_type: 'log',
        source: 'bundler',
        level: 'info',
        message: 'item 1',
        tags: { k: 'v' },
        payload: {},
        created_by: 'kafka:bundler',
      },
      {
        id: id(3),
        timestamp: at,
        event_type: 'log',
        source: 'bundler',
        level: 'info',
        message: 'item 3',
        tags: { password: '[REDACTED]', k: 'v' },
        payload: {},
        created_by: 'kafka:bundler',
      },
      {
        id: id(5),
        timestamp: at,
        event_type: 'log',
        source: 'legacy',
        level: 'info',
        message: 'item 0',
        tags: { k: 'v' },
        payload: {},
        created_by: 'kafka:direct',
      },
      {
        id: id(6),
        timestamp: at,
        event_type: 'log',
        source: 'legacy',
        level: 'info',
        message: 'item 0',
        tags: { k: 'v' },
        payload: {},
        created_by: 'kafka:direct',
      },
      {
        id: id(11),
        timestamp: at,
        event_type: 'trace',
        source: 'kcat',
        level: null,
        message: null,
        tags: {},
        payload: {},
        created_by: 'kafka:direct',
      },
      {
        id: id(14),
        timestamp: at,
        event_type: 'log',
        source: 'kcat',
        level: 'warn',
        message: null,
        tags: {},
        payload: { token: '[REDACTED]', n: 1 },
        created_by: 'kafka:direct',
      },
      {
        id: id(21),
        timestamp: at,
        event_type: 'alert',
        source: 'detected',
        level: null,
        message: null,
        tags: {},
        payload: {},
        created_by: 'kafka:direct',
      },
    ]);
    const { rows: samples } = await ctx.db.query(`SELECT id, name, value, labels, created_by FROM metrics ORDER BY id`);
    expect(samples).toEqual([
      { id: id(101), name: 'queue_depth', value: 1, labels: { queue: 'q1' }, created_by: 'kafka:direct' },
      { id: id(103), name: 'queue_depth', value: 3, labels: { queue: 'q3' }, created_by: 'kafka:direct' },
    ]);
    const { rows: totals } = await ctx.db.query(
      `SELECT kind, sum(count)::int AS count FROM ingest_totals GROUP BY kind ORDER BY kind`,
    );
    expect(totals).toEqual([
      { kind: 'event', count: 7 },
      { kind: 'metric', count: 2 },
    ]);

    // Dead letters: five from the events topic, one from the metrics topic.
    const letters = await awaitRecords(ctx.kafkajs, ctx.config.kafka.topics.dlq, 6);
    const view = letters
      .map((l) => {
        const { 'vigil-dlq-detail': detail, 'vigil-dlq-at': when, ...headers } = l.headers;
        expect(Number.isNaN(Date.parse(when))).toBe(false);
        return { key: l.key?.toString() ?? null, headers, detail, value: l.value! };
      })
      .sort((a, b) =>
        `${a.headers['vigil-dlq-topic']}/${a.headers['vigil-dlq-offset']}/${a.headers['vigil-dlq-item']}`.localeCompare(
          `${b.headers['vigil-dlq-topic']}/${b.headers['vigil-dlq-offset']}/${b.headers['vigil-dlq-item']}`,
        ),
      );
    const provenance = (topic: string, offset: number, reason: string, item?: number) => ({
      'vigil-dlq-topic': topic,
      'vigil-dlq-partition': '0',
      'vigil-dlq-offset': String(offset),
      'vigil-dlq-reason': reason,
      ...(item === undefined ? {} : { 'vigil-dlq-item': String(item) }),
    });
    const eventCodec = codecs.get('Event')!;
    expect(view.map(({ value: _, ...rest }) => rest)).toEqual([
      // The Avro item alone, re-encoded with the Event schema (replayable as is).
      {
        key: 'bundler',
        headers: {
          'vigil-schema': eventCodec.schemaId,
          'vigil-producer': 'bundler',
          ...provenance(events, 0, 'invalid', 1),
        },
        detail: 'event_type: must be one of log, metric, trace, alert, got "nope"',
      },
      {
        key: 'kcat',
        headers: { ...JSON_HEADERS, 'x-trace': 't1', ...provenance(events, 2, 'invalid', 1) },
        detail:
          'colour: is not a known field (known: id, event_type, source, message, level, tags, payload, timestamp)',
      },
      // An unpaired surrogate in tags: refused by validation, as PostgreSQL would refuse it in jsonb.
      {
        key: 'kcat',
        headers: { ...JSON_HEADERS, 'x-trace': 't1', ...provenance(events, 2, 'invalid', 2) },
        detail: 'tags: must not contain an unpaired UTF-16 surrogate (PostgreSQL refuses it in JSON)',
      },
      {
        key: 'broken',
        headers: { 'vigil-schema': bundle.schemaId, ...provenance(events, 4, 'decode_failed') },
        detail: expect.any(String),
      },
      {
        key: 'empty',
        headers: { ...JSON_HEADERS, ...provenance(events, 5, 'empty_value') },
        detail: 'the bundle has no items',
      },
      {
        key: null,
        headers: { 'vigil-schema': codecs.get('Metric')!.schemaId, ...provenance(metrics, 0, 'invalid', 1) },
        detail: 'name: must match the Prometheus metric name rule ^[a-zA-Z_:][a-zA-Z0-9_:]*$',
      },
    ]);
    expect({ ...(eventCodec.decode(view[0].value, view[0].headers['vigil-schema']) as object) }).toEqual(invalidItem);
    expect(JSON.parse(view[1].value.toString())).toEqual({
      id: id(12),
      event_type: 'log',
      source: 'kcat',
      colour: 'red',
    });
    expect(JSON.parse(view[2].value.toString())).toEqual({
      id: id(13),
      event_type: 'log',
      source: 'kcat',
      tags: { bad: '\ud800' },
      timestamp: minute,
    });
    expect(view[3].value).toEqual(Buffer.from([0x06, 0x01]));
    expect(view[4].value.toString()).toBe('[]');

    const metric = async (name: string) =>
      Object.fromEntries(
        (await writer.registry.getSingleMetric(name)!.get()).values.map((v) => [
          Object.values(v.labels).join('/'),
          v.value,
        ]),
      );
    expect(await metric('vigil_writer_rows_total')).toEqual({ events: 7, metrics: 2 });
    expect(await metric('vigil_writer_duplicates_total')).toEqual({ events: 1 });
    expect(await metric('vigil_dlq_records_total')).toEqual({
      [`${events}/invalid`]: 3,
      [`${events}/decode_failed`]: 1,
      [`${events}/empty_value`]: 1,
      [`${metrics}/invalid`]: 1,
    });
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM events')).toBe(7);
  });
});
