/**
 * The system's identity cannot be claimed by a producer: an event whose source is the alerter's (`vigil-alerter`,
 * in any letter case) is refused over HTTP with a 400 naming `source` (any user could post `alert` events that every
 * incident timeline showed as the alerter's and that fed the analysis), and straight into Kafka it is dead-lettered
 * by the same validation, as is any item whose created_by names a system actor; the alerter's own records (Avro,
 * vigil-producer: alerter, created_by vigil-alerter) are still stored.
 */
import crypto from 'node:crypto';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { RecordSeal } from '../shared/kafka/seal.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { countRows, createTestContext, waitFor, type TestContext } from './helpers/context.ts';
import { awaitRecords } from './helpers/read-topic.ts';

const EVENTS = '/api/v1/monitoring/events';
const RESERVED = "is reserved for vigil's own alert events; name your service instead";
const codecs = loadCodecs();

describe("the system's identity is reserved", () => {
  let ctx: TestContext;
  let api: Runtime;
  let producer: Producer;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway,writer');
    producer = await ctx.producer();
  });
  afterAll(() => ctx?.cleanup());

  const post = (payload: unknown) =>
    api.app.inject({
      method: 'POST',
      url: EVENTS,
      headers: { authorization: `Bearer ${ctx.token('admin', 'mallory')}` },
      payload: payload as object,
    });
  const forged = (source: string) => ({
    event_type: 'alert',
    source,
    level: 'error',
    message: '[FIRING] Database down',
    tags: { rule_id: 'x' },
  });

  it("answers 400 naming `source` to any role posting an event with the alerter's source", async () => {
    for (const source of ['vigil-alerter', 'Vigil-Alerter', 'VIGIL-ALERTER']) {
      const res = await post(forged(source));
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toEqual({
        success: false,
        error: {
          code: 'VIGIL_ERR_VALIDATION',
          message: `source: ${JSON.stringify(source)} ${RESERVED}`,
          details: [{ field: 'source', message: `${JSON.stringify(source)} ${RESERVED}` }],
        },
      });
    }
  });

  it('refuses that item of a batch and accepts the others', async () => {
    const res = await post([forged('vigil-alerter'), { ...forged('payments'), message: 'a real alert of payments' }]);
    expect(res.statusCode, res.body).toBe(202);
    const { data } = res.json();
    expect(data).toEqual({
      accepted: 1,
      rejected: 1,
      ids: [null, expect.stringMatching(/^[0-9a-f-]{36}$/)],
      errors: [{ index: 0, field: 'source', message: `"vigil-alerter" ${RESERVED}` }],
    });
    const payments = "SELECT count(*) AS n FROM events WHERE source = 'payments'";
    await waitFor(
      () => countRows(ctx.db, payments),
      (n) => n === 1,
    );
    expect(await countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE lower(source) = 'vigil-alerter'")).toBe(0);
  });

  it("dead-letters direct Kafka records that claim the alerter, and stores the alerter's own", async () => {
    const topic = ctx.config.kafka.topics.events;
    const event = codecs.get('Event')!;
    const now = Date.now();
    const item = (id: string, source: string, createdBy: string | null) =>
      event.encode({
        id,
        event_type: 'alert',
        source,
        message: 'm',
        level: 'warn',
        tags: '{}',
        payload: '{}',
        timestamp: now,
        created_by: createdBy,
      });
    const record = (key: string, value: unknown, headers: Record<string, string>) => ({
      key,
      value: Buffer.isBuffer(value) ? value : JSON.stringify(value),
      headers,
    });
    const own = crypto.randomUUID();
    const json = { 'content-type': 'application/json' };
    const avro = { 'vigil-schema': event.schemaId };
    const fromAlerter = { 'vigil-producer': 'alerter' };
    // A record sealed as vigil's own producer seals it (the test context sets KAFKA_SEAL_SECRET, as a deployment
    // should): with a secret, only sealed records are vigil's own.
    const seal = new RecordSeal(ctx.config.kafka.sealSecret!);
    const sealed = (value: Buffer, producer: string) => ({
      ...avro,
      'vigil-producer': producer,
      'vigil-seal': seal.sign({ topic, schema: event.schemaId, producer }, value),
    });
    const claimsAlerter = item(crypto.randomUUID(), 'billing', 'vigil-alerter');
    const alerters = item(own, 'vigil-alerter', 'vigil-alerter');
    await producer.send({
      topic,
      messages: [
        // JSON with the alerter's source, and JSON that names the alerter as its creator.
        record('a', { event_type: 'alert', source: 'vigil-alerter', message: 'forged' }, json),
        record('b', { event_type: 'log', source: 'billing', created_by: 'vigil-alerter' }, json),
        // Avro as the gateway writes it (sealed), claiming the alerter as creator; one claiming its source; and a
        // record that says `vigil-producer: alerter` but is JSON (the alerter writes Avro).
        record('c', claimsAlerter, sealed(claimsAlerter, 'gateway')),
        record('d', { event_type: 'log', source: 'x', created_by: 'vigil-alerter' }, { ...json, ...fromAlerter }),
        record('e', item(crypto.randomUUID(), 'vigil-alerter', 'mallory'), { ...avro, 'vigil-producer': 'gateway' }),
        // The alerter's own record as a direct producer could forge it (the header without a seal)...
        record('f', item(crypto.randomUUID(), 'vigil-alerter', 'vigil-alerter'), { ...avro, ...fromAlerter }),
        // ... and as the alerter writes it.
        record('vigil-alerter', alerters, sealed(alerters, 'alerter')),
      ],
    });
    const CREATED_BY_REFUSED =
      'is not accepted on a record: it is set to kafka:<vigil-producer header> (send that header instead)';
    const letters = await awaitRecords(ctx.kafkajs, ctx.config.kafka.topics.dlq, 6);
    const summary = letters
      .map((l) => [l.key?.toString(), l.headers['vigil-dlq-reason'], l.headers['vigil-dlq-detail']])
      .sort();
    expect(summary).toEqual([
      ['a', 'invalid', `source: "vigil-alerter" ${RESERVED}`],
      // A JSON item may not name its creator at all (created_by comes from the record's header).
      ['b', 'invalid', `created_by: ${CREATED_BY_REFUSED}`],
      ['c', 'invalid', 'created_by: "vigil-alerter" is reserved for vigil itself'],
      ['d', 'invalid', `created_by: ${CREATED_BY_REFUSED}`],
      ['e', 'invalid', `source: "vigil-alerter" ${RESERVED}`],
      ['f', 'invalid', `source: "vigil-alerter" ${RESERVED}`],
    ]);
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events WHERE id = $1', [own]),
      (n) => n === 1,
    );
    const claimed = `SELECT id, source, created_by FROM events
                      WHERE lower(source) = 'vigil-alerter' OR created_by = 'vigil-alerter'`;
    const { rows } = await ctx.db.query(claimed);
    expect(rows).toEqual([{ id: own, source: 'vigil-alerter', created_by: 'vigil-alerter' }]);
  });
});
