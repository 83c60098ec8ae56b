/**
 * The ingest contract over HTTP against the real broker: every input form, every validation rule (table-driven),
 * partial batches, gzip, NDJSON, limits (413), redaction, request ids, auth, Kafka keys/values and /metrics.
 * Records are read back from the test's own topics, so these tests need no writer.
 */
import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { loadCodecs } from '../../shared/schemas/avro.ts';
import { Partitioners } from 'kafkajs';
import { keyPartition } from '../../shared/kafka/partitioner.ts';
import { seriesFingerprint } from '../../shared/schemas/metric.ts';
import { unbundle } from '../../test/helpers/bundles.ts';
import { createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { readTopic, type TopicRecord } from '../../test/helpers/read-topic.ts';
import { RecordSeal } from '../../shared/kafka/seal.ts';

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const codecs = loadCodecs();

/** The gateway's headers, with a seal that verifies under the test's secret (the writer then trusts the record). */
function expectSealed(record: TopicRecord, secret: string | null, topic: string, schema: string): void {
  const { 'vigil-seal': seal, ...headers } = record.headers;
  expect(headers).toEqual({ 'vigil-schema': schema, 'vigil-producer': 'gateway' });
  expect(new RecordSeal(secret!).verify({ topic, schema, producer: 'gateway' }, record.value, seal)).toBe(true);
}

describe('ingest gateway', () => {
  let ctx: TestContext;
  let api: Runtime;
  let small: Runtime;
  let tight: Runtime;
  let token: string;
  const sub = 'b3c2a1d0-0000-4000-8000-000000000001';

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway');
    small = await ctx.start('gateway', {
      INGEST_BODY_LIMIT_BYTES: '2048',
      INGEST_MAX_BATCH_ITEMS: '3',
      INGEST_SOURCE_MAX_LENGTH: '5',
      INGEST_MAX_TAGS: '2',
      INGEST_MAX_LABELS: '1',
      INGEST_REDACT_KEYS: 'pin',
      INGEST_REDACT_SECRETS: 'false',
    });
    tight = await ctx.start('gateway', { INGEST_MAX_INFLIGHT_BYTES: '1024' });
    token = ctx.token('user', sub);
  });
  afterAll(() => ctx?.cleanup());

  const post = (path: 'events' | 'metrics', payload: unknown, headers: Record<string, string> = {}, runtime = api) =>
    runtime.app.inject({
      method: 'POST',
      url: `/api/v1/monitoring/${path}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      payload: typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload),
    });
  const event = (extra: Record<string, unknown> = {}) => ({
    event_type: 'log',
    source: 'web-server',
    message: 'ok',
    level: 'info',
    ...extra,
  });
  const metric = (extra: Record<string, unknown> = {}) => ({
    name: 'http_requests_total',
    metric_type: 'counter',
    value: 1,
    labels: { method: 'GET' },
    ...extra,
  });

  describe('input forms', () => {
    it('accepts one event in the contract shape and answers with the stored event', async () => {
      const res = await post(
        'events',
        {
          event_type: 'log',
          source: 'web-server',
          message: 'Request processed successfully',
          level: 'info',
          tags: { service: 'api', environment: 'production' },
          payload: { request_id: 'req-123', duration_ms: 245 },
        },
        { 'x-request-id': 'req-form-1' },
      );
      expect(res.statusCode).toBe(202);
      expect(res.headers['x-request-id']).toBe('req-form-1');
      const body = res.json();
      expect(body.data.id).toMatch(UUID7);
      expect(body).toEqual({
        success: true,
        data: {
          id: body.data.id,
          event_type: 'log',
          source: 'web-server',
          message: 'Request processed successfully',
          level: 'info',
          tags: { service: 'api', environment: 'production', request_id: 'req-form-1' },
          payload: { request_id: 'req-123', duration_ms: 245 },
          timestamp: body.data.timestamp,
          created_by: sub,
        },
      });
    });

    it('accepts one metric sample in the contract shape', async () => {
      const res = await post('metrics', {
        name: 'http_requests_total',
        metric_type: 'counter',
        value: 1,
        labels: { method: 'GET', status: '200', endpoint: '/api/users' },
      });
      expect(res.statusCode).toBe(202);
      const body = res.json();
      expect(body).toEqual({
        success: true,
        data: {
          id: expect.stringMatching(UUID7),
          name: 'http_requests_total',
          metric_type: 'counter',
          value: 1,
          labels: { method: 'GET', status: '200', endpoint: '/api/users' },
          timestamp: expect.any(String),
          created_by: sub,
        },
      });
      expect(Math.abs(Date.parse(body.data.timestamp) - Date.now())).toBeLessThan(10_000);
    });

    const batchForms: Array<
      [string, (items: unknown[], key: string) => { payload: string | Buffer; headers: Record<string, string> }]
    > = [
      ['a JSON array', (items) => ({ payload: JSON.stringify(items), headers: {} })],
      ['a batch object', (items, key) => ({ payload: JSON.stringify({ [key]: items }), headers: {} })],
      [
        'NDJSON',
        (items) => ({
          payload: `${items.map((i) => JSON.stringify(i)).join('\n')}\n`,
          headers: { 'content-type': 'application/x-ndjson' },
        }),
      ],
      [
        'gzip JSON',
        (items) => ({ payload: zlib.gzipSync(JSON.stringify(items)), headers: { 'content-encoding': 'gzip' } }),
      ],
      [
        'gzip NDJSON',
        (items) => ({
          payload: zlib.gzipSync(items.map((i) => JSON.stringify(i)).join('\r\n')),
          headers: { 'content-type': 'application/x-ndjson; charset=utf-8', 'content-encoding': 'gzip' },
        }),
      ],
    ];
    for (const [name, form] of batchForms) {
      it(`accepts a batch of events and of metrics as ${name}`, async () => {
        for (const [path, items] of [
          ['events', [event(), event({ source: 'db' })]],
          ['metrics', [metric(), metric({ value: 2 })]],
        ] as Array<['events' | 'metrics', unknown[]]>) {
          const { payload, headers } = form(items, path);
          const res = await post(path, payload, headers);
          expect(res.statusCode, `${path} ${res.body}`).toBe(202);
          const body = res.json();
          expect(body).toEqual({
            success: true,
            data: {
              accepted: 2,
              rejected: 0,
              ids: [expect.stringMatching(UUID7), expect.stringMatching(UUID7)],
              errors: [],
            },
          });
          expect(body.data.ids[0]).not.toBe(body.data.ids[1]);
        }
      });
    }
  });

  describe('partial batches', () => {
    it('publishes the valid items, reports each invalid one by index, field and rule', async () => {
      const res = await post('events', [
        event(),
        event({ event_type: 'bogus' }),
        event({ source: 'x' }),
        { source: '', colour: 'red' },
      ]);
      expect(res.statusCode).toBe(202);
      const body = res.json();
      expect(body).toEqual({
        success: true,
        data: {
          accepted: 2,
          rejected: 2,
          ids: [expect.stringMatching(UUID7), null, expect.stringMatching(UUID7), null],
          errors: [
            { index: 1, field: 'event_type', message: 'must be one of log, metric, trace, alert, got "bogus"' },
            {
              index: 3,
              field: 'colour',
              message: 'is not a known field (known: id, event_type, source, message, level, tags, payload, timestamp)',
            },
            { index: 3, field: 'event_type', message: 'is required (one of log, metric, trace, alert)' },
            { index: 3, field: 'source', message: 'must not be empty' },
          ],
        },
      });
    });

    it('reports a malformed NDJSON line as a rejected item and keeps the others', async () => {
      const res = await post(
        'metrics',
        `${JSON.stringify(metric())}\n{"name": \n\n${JSON.stringify(metric({ value: 3 }))}\n`,
        { 'content-type': 'application/x-ndjson' },
      );
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({
        success: true,
        data: {
          accepted: 2,
          rejected: 1,
          ids: [expect.stringMatching(UUID7), null, expect.stringMatching(UUID7)],
          errors: [{ index: 1, field: '(line)', message: expect.stringMatching(/^is not valid JSON: /) }],
        },
      });
    });

    it('answers 400 when every item is invalid, and publishes nothing', async () => {
      const res = await post('metrics', { metrics: [metric({ value: -1 }), metric({ name: '9lives' })] });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        success: false,
        error: {
          code: 'VIGIL_ERR_VALIDATION',
          message: 'all 2 metric samples were rejected; details lists each offending field by item index',
          details: [
            { index: 0, field: 'value', message: 'must not be negative for a counter' },
            {
              index: 1,
              field: 'name',
              message: 'must match the Prometheus metric name rule ^[a-zA-Z_:][a-zA-Z0-9_:]*$',
            },
          ],
        },
      });
    });
  });

  describe('validation rules', () => {
    const now = Date.now();
    const tooOld = new Date(now - 31 * 86_400_000).toISOString();
    const tooNew = new Date(now + 3_600_000).toISOString();
    const window = /^must be between \S+ and \S+ \(retention (30|90) days, future grace 600 s\), got \S+$/;
    const eventRules: Array<[string, Record<string, unknown>, string, string | RegExp]> = [
      ['event_type missing', { event_type: undefined }, 'event_type', 'is required (one of log, metric, trace, alert)'],
      [
        'event_type unknown',
        { event_type: 'audit' },
        'event_type',
        'must be one of log, metric, trace, alert, got "audit"',
      ],
      ['source missing', { source: undefined }, 'source', 'is required'],
      ['source blank', { source: '  ' }, 'source', 'must not be empty'],
      ['source too long', { source: 's'.repeat(256) }, 'source', 'must be at most 255 characters, got 256'],
      ['source with NUL', { source: 'a\u0000b' }, 'source', 'must not contain the NUL character'],
      ['message not a string', { message: 5 }, 'message', 'must be a string, got number 5'],
      ['message too long', { message: 'm'.repeat(8193) }, 'message', 'must be at most 8192 characters, got 8193'],
      [
        'level unknown',
        { level: 'loud' },
        'level',
        'must be one of trace, debug, info, warn, error, fatal, got "loud"',
      ],
      ['tags not an object', { tags: ['a'] }, 'tags', 'must be a JSON object, got an array'],
      [
        'too many tags',
        { tags: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`t${i}`, i])) },
        'tags',
        'must have at most 64 keys, got 65',
      ],
      ['tags too large', { tags: { big: 'b'.repeat(8200) } }, 'tags', /^must be at most 8192 bytes as JSON, got \d+$/],
      ['payload not an object', { payload: 'text' }, 'payload', 'must be a JSON object, got "text"'],
      [
        'payload too large',
        { payload: { big: 'p'.repeat(16_400) } },
        'payload',
        'must be at most 16384 bytes as JSON, got 16410',
      ],
      [
        'payload nested too deep',
        { payload: JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) },
        'payload',
        'must not nest deeper than 32 levels',
      ],
      [
        'timestamp not a date',
        { timestamp: 'yesterday' },
        'timestamp',
        'must be an ISO 8601 date-time with a zone (e.g. 2024-01-01T00:00:00Z) or epoch milliseconds, got "yesterday"',
      ],
      [
        'timestamp without zone',
        { timestamp: '2024-01-01T00:00:00' },
        'timestamp',
        'must be an ISO 8601 date-time with a zone (e.g. 2024-01-01T00:00:00Z) or epoch milliseconds, got ' +
          '"2024-01-01T00:00:00"',
      ],
      // Regression (found by fuzz.int.test.ts): a number beyond the Date range made toISOString throw → 500.
      ['timestamp beyond the Date range', { timestamp: 1e308 }, 'timestamp', 'is not a valid date: number 1e+308'],
      ['timestamp older than retention', { timestamp: tooOld }, 'timestamp', window],
      ['timestamp too far in the future', { timestamp: tooNew }, 'timestamp', window],
      ['id not a UUID', { id: 'abc' }, 'id', 'must be a UUID (e.g. 0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d), got "abc"'],
      [
        'unknown field',
        { severity: 'high' },
        'severity',
        'is not a known field (known: id, event_type, source, message, level, tags, payload, timestamp)',
      ],
    ];
    for (const [name, change, field, message] of eventRules) {
      it(`event: ${name} → 400 naming ${field}`, async () => {
        const res = await post('events', event(change));
        expect(res.statusCode).toBe(400);
        const body = res.json();
        expect(body).toEqual({
          success: false,
          error: {
            code: 'VIGIL_ERR_VALIDATION',
            message: expect.any(String),
            details: [{ field, message: typeof message === 'string' ? message : expect.stringMatching(message) }],
          },
        });
        expect(body.error.message).toBe(`${field}: ${body.error.details[0].message}`);
      });
    }

    const metricRules: Array<[string, Record<string, unknown>, string, string | RegExp]> = [
      ['name missing', { name: undefined }, 'name', 'is required'],
      [
        'name breaks the Prometheus rule',
        { name: 'http-requests' },
        'name',
        'must match the Prometheus metric name rule ^[a-zA-Z_:][a-zA-Z0-9_:]*$',
      ],
      ['name too long', { name: 'n'.repeat(201) }, 'name', 'must be at most 200 characters, got 201'],
      [
        'metric_type unknown',
        { metric_type: 'rate' },
        'metric_type',
        'must be one of counter, gauge, histogram, summary, got "rate"',
      ],
      ['value missing', { value: undefined }, 'value', 'is required (a finite number)'],
      ['value not a number', { value: '1' }, 'value', 'must be a finite number, got "1"'],
      ['negative counter', { value: -2 }, 'value', 'must not be negative for a counter'],
      ['labels not an object', { labels: 'a=b' }, 'labels', 'must be an object of string values, got "a=b"'],
      [
        'too many labels',
        { labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`l${i}`, 'v'])) },
        'labels',
        'must have at most 32 labels, got 33',
      ],
      [
        'label name breaks the rule',
        { labels: { 'bad-name': 'v' } },
        'labels.bad-name',
        'label name must match ^[a-zA-Z_][a-zA-Z0-9_]*$ and not start with __',
      ],
      [
        'reserved label name',
        { labels: { __name__: 'v' } },
        'labels.__name__',
        'label name must match ^[a-zA-Z_][a-zA-Z0-9_]*$ and not start with __',
      ],
      ['label value not a string', { labels: { code: 200 } }, 'labels.code', 'must be a string, got number 200'],
      [
        'label value too long',
        { labels: { path: 'p'.repeat(1025) } },
        'labels.path',
        'must be at most 1024 characters',
      ],
      ['timestamp too far in the future', { timestamp: tooNew }, 'timestamp', window],
      [
        'unknown field',
        { unit: 'seconds' },
        'unit',
        'is not a known field (known: id, name, metric_type, value, labels, timestamp)',
      ],
    ];
    for (const [name, change, field, message] of metricRules) {
      it(`metric: ${name} → 400 naming ${field}`, async () => {
        const res = await post('metrics', metric(change));
        expect(res.statusCode).toBe(400);
        expect(res.json()).toEqual({
          success: false,
          error: {
            code: 'VIGIL_ERR_VALIDATION',
            message: expect.any(String),
            details: [{ field, message: typeof message === 'string' ? message : expect.stringMatching(message) }],
          },
        });
      });
    }

    it('accepts old samples within the metric retention (90 days) that events would refuse (30 days)', async () => {
      expect((await post('metrics', metric({ timestamp: tooOld }))).statusCode).toBe(202);
      expect((await post('events', event({ timestamp: tooOld }))).statusCode).toBe(400);
    });
  });

  describe('bodies and limits', () => {
    const errorOf = (res: { statusCode: number; json(): { error: { code: string; message: string } } }) => [
      res.statusCode,
      res.json().error.code,
      res.json().error.message,
    ];

    it('answers malformed, empty and unsupported bodies with 400/415', async () => {
      expect(errorOf(await post('events', '{"event_type":'))).toEqual([
        400,
        'VIGIL_ERR_MALFORMED_BODY',
        expect.stringMatching(/^malformed JSON body: /),
      ]);
      expect(errorOf(await post('events', ''))).toEqual([
        400,
        'VIGIL_ERR_MALFORMED_BODY',
        'malformed JSON body: the body is empty',
      ]);
      expect(errorOf(await post('events', '\n\n', { 'content-type': 'application/x-ndjson' }))).toEqual([
        400,
        'VIGIL_ERR_MALFORMED_BODY',
        'the NDJSON body has no lines',
      ]);
      expect(errorOf(await post('events', 'not gzip', { 'content-encoding': 'gzip' }))).toEqual([
        400,
        'VIGIL_ERR_MALFORMED_BODY',
        expect.stringMatching(/^the body is not valid gzip: /),
      ]);
      expect(errorOf(await post('events', 'x', { 'content-encoding': 'br' }))).toEqual([
        415,
        'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE',
        'Content-Encoding "br" is not supported; send identity or gzip',
      ]);
      const form = await post('events', 'a=b', { 'content-type': 'application/x-www-form-urlencoded' });
      expect([form.statusCode, form.json().error.code]).toEqual([415, 'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE']);
      const none = await api.app.inject({
        method: 'POST',
        url: '/api/v1/monitoring/events',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(errorOf(none)).toEqual([
        400,
        'VIGIL_ERR_MALFORMED_BODY',
        'a body is required: one event, a batch or NDJSON (Content-Type: application/json or application/x-ndjson)',
      ]);
      expect(errorOf(await post('events', { events: 'many' }))).toEqual([
        400,
        'VIGIL_ERR_VALIDATION',
        'events: must be an array of events',
      ]);
      expect(errorOf(await post('events', { events: [] }))).toEqual([
        400,
        'VIGIL_ERR_VALIDATION',
        'events: must contain at least one event',
      ]);
      expect(errorOf(await post('events', { events: [event()], extra: 1 }))).toEqual([
        400,
        'VIGIL_ERR_VALIDATION',
        'extra: is not allowed next to "events" (a batch object has only "events")',
      ]);
      expect(errorOf(await post('events', 'null'))).toEqual([
        400,
        'VIGIL_ERR_VALIDATION',
        expect.stringMatching(/^\(body\): must be a JSON object with event_type, source/),
      ]);
    });

    it('applies limits: body size (also after gzip), items per batch → 413, string lengths, tags, labels', async () => {
      const big = JSON.stringify([event({ message: 'x'.repeat(3000) })]);
      expect(errorOf(await post('events', big, {}, small))).toEqual([
        413,
        'VIGIL_ERR_PAYLOAD_TOO_LARGE',
        expect.any(String),
      ]);
      // 1 MB of zeros compresses to ~1 KB: under the limit on the wire, over it once inflated.
      const bomb = zlib.gzipSync(Buffer.alloc(1024 * 1024, 0x20));
      expect(bomb.length).toBeLessThan(2048);
      expect(errorOf(await post('events', bomb, { 'content-encoding': 'gzip' }, small))).toEqual([
        413,
        'VIGIL_ERR_PAYLOAD_TOO_LARGE',
        'the decompressed body exceeds the limit of 2048 bytes',
      ]);
      const four = [1, 2, 3, 4].map(() => event({ source: 'api' }));
      expect(errorOf(await post('events', four, {}, small))).toEqual([
        413,
        'VIGIL_ERR_PAYLOAD_TOO_LARGE',
        'the batch has more than 3 events; at most 3 are accepted per request: split it',
      ]);
      const res = await post(
        'events',
        [event({ source: 'web-server' }), event({ source: 'api', tags: { a: 1, b: 2, c: 3 } })],
        {},
        small,
      );
      expect(res.json().error.details).toEqual([
        { index: 0, field: 'source', message: 'must be at most 5 characters, got 10' },
        { index: 1, field: 'tags', message: 'must have at most 2 keys, got 3' },
      ]);
      const labels = await post('metrics', metric({ labels: { a: '1', b: '2' } }), {}, small);
      expect(labels.json().error.details).toEqual([{ field: 'labels', message: 'must have at most 1 labels, got 2' }]);
    });
  });

  describe('in-flight bounds', () => {
    it('counts a chunked body as it arrives: a second that does not fit gets 429, the first completes', async () => {
      const url = '/api/v1/monitoring/events';
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const inflightBytes = async () =>
        Number(
          /^vigil_gateway_inflight_bytes\{[^}]*\} (\d+)$/m.exec(
            (await tight.app.inject({ method: 'GET', url: '/metrics' })).body,
          )?.[1],
        );
      const item = JSON.stringify(event({ message: 'x'.repeat(700) }));
      const first = new PassThrough();
      const firstAnswer = tight.app.inject({ method: 'POST', url, headers, payload: first });
      first.write(`[${item},`);
      await waitFor(inflightBytes, (n) => n >= item.length);
      const second = new PassThrough();
      const secondAnswer = tight.app.inject({ method: 'POST', url, headers, payload: second });
      second.end(`[${item}]`);
      const refused = await secondAnswer;
      expect([refused.statusCode, refused.headers['retry-after'], refused.json().error.code]).toEqual([
        429,
        '1',
        'VIGIL_ERR_RATE_LIMITED',
      ]);
      first.end(`${item}]`);
      const accepted = await firstAnswer;
      expect(accepted.statusCode).toBe(202);
      expect(accepted.json().data.accepted).toBe(2);
      expect(await inflightBytes()).toBe(0);
    });
  });

  describe('what reaches Kafka', () => {
    it("bundles events by their source's partition, no key: Avro items, redacted secrets, the request id", async () => {
      // A UUIDv7 id and no timestamp: the event takes the id's own time, so a retry hits the same primary key.
      const idTime = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
      const id = uuidv7({ msecs: idTime });
      const posted = await post(
        'events',
        event({
          id,
          source: 'kafka-check',
          tags: { Authorization: 'Bearer abc', env: 'prod', nested: { 'X-Api-Key': 'k' } },
          payload: {
            user: { password: 'hunter2', name: 'ann', sessions: [{ session_id: 's1', ok: true }] },
            clientSecret: { a: 1 },
            duration_ms: 5,
          },
        }),
        { 'x-request-id': 'req-kafka-1' },
      );
      expect(posted.statusCode).toBe(202);
      const stored = {
        id,
        event_type: 'log',
        source: 'kafka-check',
        message: 'ok',
        level: 'info',
        tags: {
          Authorization: '[REDACTED]',
          env: 'prod',
          nested: { 'X-Api-Key': '[REDACTED]' },
          request_id: 'req-kafka-1',
        },
        payload: {
          user: { password: '[REDACTED]', name: 'ann', sessions: [{ session_id: '[REDACTED]', ok: true }] },
          clientSecret: '[REDACTED]',
          duration_ms: 5,
        },
        timestamp: new Date(idTime).toISOString(),
        created_by: sub,
      };
      expect(posted.json()).toEqual({ success: true, data: stored });
      // A batch of four: kafka-check and kafka-second map to the same partition of three (kafka-other to another),
      // so their three events share one bundle, in request order; the client's own request_id tag wins over the
      // header's.
      expect([keyPartition('kafka-check', 3), keyPartition('kafka-second', 3)]).toEqual([2, 2]);
      expect(keyPartition('kafka-other', 3)).toBe(1);
      const before = Date.now();
      const batch = await post(
        'events',
        [
          event({ source: 'kafka-check', tags: { request_id: 'mine' } }),
          event({ source: 'kafka-other', message: 'other' }),
          event({ source: 'kafka-second', message: 'second' }),
          event({ source: 'kafka-check', message: 'third' }),
        ],
        { 'x-request-id': 'req-kafka-2' },
      );
      expect(batch.statusCode).toBe(202);
      const [mineId, otherId, secondId, thirdId] = batch.json().data.ids;
      const after = Date.now();

      const records = (await readTopic(ctx.kafkajs, ctx.config.kafka.topics.events)).filter((r) =>
        r.value.includes('kafka-'),
      );
      const bundle = codecs.get('EventBundle')!;
      for (const record of records) {
        expect(record.key).toBeNull();
        expectSealed(record, ctx.config.kafka.sealSecret, ctx.config.kafka.topics.events, bundle.schemaId);
      }
      const travelled = unbundle(records, bundle);
      // The batch's items carry the request's arrival time.
      const batchTime = travelled.find((t) => t.item.id === mineId)!.item.timestamp as number;
      expect(batchTime).toBeGreaterThanOrEqual(before);
      expect(batchTime).toBeLessThanOrEqual(after);
      const item = (e: Record<string, unknown>) => ({
        message: 'ok',
        event_type: 'log',
        level: 'info',
        payload: '{}',
        created_by: sub,
        id_given: false,
        tags: '{"request_id":"req-kafka-2"}',
        timestamp: batchTime,
        ...e,
      });
      // unbundle() lists items in partition and offset order, and in bundle order within a record.
      expect(travelled.map(({ partition, offset, index, item: i }) => ({ partition, offset, index, item: i }))).toEqual(
        [
          {
            partition: 1,
            offset: expect.any(String),
            index: 0,
            item: item({ id: otherId, source: 'kafka-other', message: 'other' }),
          },
          // The client chose the first id (id_given: the writer stores it once); the gateway generated the others.
          {
            partition: 2,
            offset: travelled[1].offset,
            index: 0,
            item: {
              ...stored,
              tags: JSON.stringify(stored.tags),
              payload: JSON.stringify(stored.payload),
              timestamp: idTime,
              id_given: true,
            },
          },
          {
            partition: 2,
            offset: travelled[2].offset,
            index: 0,
            item: item({ id: mineId, source: 'kafka-check', tags: '{"request_id":"mine"}' }),
          },
          {
            partition: 2,
            offset: travelled[2].offset,
            index: 1,
            item: item({ id: secondId, source: 'kafka-second', message: 'second' }),
          },
          {
            partition: 2,
            offset: travelled[2].offset,
            index: 2,
            item: item({ id: thirdId, source: 'kafka-check', message: 'third' }),
          },
        ],
      );
      // Two records in partition 2 (the single event, then the batch's bundle), one in partition 1.
      expect(records).toHaveLength(3);
      expect(BigInt(travelled[2].offset)).toBeGreaterThan(BigInt(travelled[1].offset));
    }, 60_000);

    it("bundles metric samples by their series fingerprint's partition, with no key (alerter ownership)", async () => {
      // 40 series, 3 samples each, over 6 concurrent requests: every sample must land in its series' partition.
      const series = Array.from({ length: 40 }, (_, i) => ({
        name: 'ownership_check',
        labels: { host: `h${i}`, zone: i % 2 ? 'a' : 'b' },
      }));
      const requests = Array.from({ length: 6 }, (_, r) =>
        series
          .slice((r % 2) * 20, (r % 2) * 20 + 20)
          .map((s, i) => metric({ ...s, metric_type: 'gauge', value: r * 100 + i })),
      );
      const answers = await Promise.all(requests.map((samples) => post('metrics', samples)));
      for (const answer of answers) expect(answer.json().data).toMatchObject({ accepted: 20, rejected: 0 });

      const records = (await readTopic(ctx.kafkajs, ctx.config.kafka.topics.metrics)).filter((r) =>
        r.value.includes('ownership_check'),
      );
      const bundle = codecs.get('MetricBundle')!;
      for (const record of records) {
        expect(record.key).toBeNull();
        expectSealed(record, ctx.config.kafka.sealSecret, ctx.config.kafka.topics.metrics, bundle.schemaId);
      }
      const travelled = unbundle(records, bundle);
      expect(travelled).toHaveLength(120);
      const ids = new Set(answers.flatMap((a) => a.json().data.ids));
      for (const { partition, item } of travelled) {
        expect(ids.has(item.id)).toBe(true);
        expect(partition).toBe(
          keyPartition(seriesFingerprint(item.name as string, item.labels as Record<string, string>), 3),
        );
      }
      expect(new Set(travelled.map((t) => t.partition)).size).toBe(3);
      // Fewer records than requests × partitions: one bundle per partition per request at most.
      expect(records.length).toBeLessThanOrEqual(18);

      // keyPartition is where KafkaJS itself puts a record keyed by the fingerprint (checked on a spare topic).
      const probe = ctx.kafkajs.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await probe.connect();
      const fingerprints = series.slice(0, 12).map((s) => seriesFingerprint(s.name, s.labels));
      const acks = await probe
        .send({
          topic: ctx.config.kafka.topics.dlq,
          acks: -1,
          messages: fingerprints.map((key) => ({ key, value: key })),
        })
        .finally(() => probe.disconnect());
      const landed = await readTopic(ctx.kafkajs, ctx.config.kafka.topics.dlq);
      // One acknowledgement per partition written to, none with an error.
      expect(acks.map((a) => [a.partition, a.errorCode]).sort()).toEqual(
        [...new Set(fingerprints.map((f) => keyPartition(f, 3)))].sort().map((p) => [p, 0]),
      );
      expect(Object.fromEntries(landed.map((r) => [r.key, r.partition]))).toEqual(
        Object.fromEntries(fingerprints.map((f) => [f, keyPartition(f, 3)])),
      );
    }, 60_000);

    it('redacts metric labels, the value of {name, value} lists and secret shapes in messages', async () => {
      const message =
        'upstream said 401 to Authorization: Bearer abc.def-123 (card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE)';
      const headers = [
        { name: 'Authorization', value: 'Bearer abc' },
        { name: 'Accept', value: 'json' },
      ];
      const res = await post('events', event({ message, payload: { headers }, tags: { db_pass: 'p', author: 'ann' } }));
      expect(res.statusCode).toBe(202);
      const { data } = res.json();
      expect([data.message, data.payload, data.tags]).toEqual([
        'upstream said 401 to Authorization: Bearer [REDACTED] (card [REDACTED], key [REDACTED])',
        {
          headers: [
            { name: 'Authorization', value: '[REDACTED]' },
            { name: 'Accept', value: 'json' },
          ],
        },
        { db_pass: '[REDACTED]', author: 'ann', request_id: expect.any(String) },
      ]);
      const sample = await post('metrics', metric({ labels: { method: 'GET', api_key: 'k' } }));
      expect(sample.json().data.labels).toEqual({ method: 'GET', api_key: '[REDACTED]' });
      // INGEST_REDACT_SECRETS=false keeps message text as sent.
      expect((await post('events', event({ source: 'api', message }), {}, small)).json().data.message).toBe(message);
    });

    it('redacts the configured deny-list only, case-insensitively', async () => {
      const res = await post(
        'events',
        event({ source: 'api', tags: { PIN: '1234', password: 'kept' }, payload: { card: { Pin_Code: 1 } } }),
        {},
        small,
      );
      expect(res.json().data.tags).toEqual({ PIN: '[REDACTED]', password: 'kept' });
      expect(res.json().data.payload).toEqual({ card: { Pin_Code: '[REDACTED]' } });
    });
  });

  describe('auth, request ids and telemetry', () => {
    it('refuses missing and invalid tokens with 401 on both endpoints; every role may write', async () => {
      for (const path of ['events', 'metrics'] as const) {
        const missing = await api.app.inject({ method: 'POST', url: `/api/v1/monitoring/${path}`, payload: {} });
        expect([missing.statusCode, missing.json().error.code]).toEqual([401, 'VIGIL_ERR_UNAUTHORIZED']);
        const bad = await post(path, {}, { authorization: 'Bearer nope' });
        expect([bad.statusCode, bad.json().error.code]).toEqual([401, 'VIGIL_ERR_UNAUTHORIZED']);
        for (const role of ['user', 'moderator', 'admin'] as const) {
          const res = await post(path, path === 'events' ? event() : metric(), {
            authorization: `Bearer ${ctx.token(role)}`,
          });
          expect(res.statusCode, `${role} ${path}`).toBe(202);
        }
      }
    });

    it('generates a request id when none (or an unusable one) is sent, and echoes it', async () => {
      const res = await post('events', event(), { 'x-request-id': 'bad id with spaces' });
      const generated = res.headers['x-request-id'];
      expect(generated).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.json().data.tags).toEqual({ request_id: generated });
      const failed = await post('events', '{', { 'x-request-id': 'req-err-1' });
      expect(failed.headers['x-request-id']).toBe('req-err-1');
    });

    it("stamps a batch's items with the request id only when the client sent it (not a generated one)", async () => {
      const batch = [event({ source: 'shipper-a' }), event({ source: 'shipper-b', tags: { env: 'prod' } })];
      const generated = await post('events', batch);
      expect(generated.statusCode).toBe(202);
      expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      const given = await post('events', batch, { 'x-request-id': 'req-batch-1' });
      expect(given.statusCode).toBe(202);
      const records = (await readTopic(ctx.kafkajs, ctx.config.kafka.topics.events)).filter((r) =>
        r.value.includes('shipper-'),
      );
      const travelled = unbundle(records, codecs.get('EventBundle')!);
      const tagsOf = (ids: string[]) => ids.map((id) => travelled.find((t) => t.item.id === id)?.item.tags);
      expect(tagsOf(generated.json().data.ids)).toEqual(['{}', '{"env":"prod"}']);
      expect(tagsOf(given.json().data.ids)).toEqual([
        '{"request_id":"req-batch-1"}',
        '{"env":"prod","request_id":"req-batch-1"}',
      ]);
    });

    it('counts requests, items by outcome and reason, and produce latency on GET /metrics (no token)', async () => {
      await post('events', [event(), event({ level: 'loud' }), { nope: 1 }]);
      const res = await api.app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      const text = res.body;
      const value = (name: string, labels: Record<string, string> = {}) => samples(text).get(sampleKey(name, labels));
      expect(
        value('vigil_gateway_items_total', { endpoint: 'events', outcome: 'rejected', reason: 'level' }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        value('vigil_gateway_items_total', { endpoint: 'events', outcome: 'rejected', reason: 'unknown_field' }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        value('vigil_gateway_items_total', { endpoint: 'events', outcome: 'accepted', reason: 'none' }),
      ).toBeGreaterThan(10);
      expect(value('vigil_gateway_requests_total', { endpoint: 'events', status: '202' })).toBeGreaterThan(5);
      expect(value('vigil_gateway_requests_total', { endpoint: 'events', status: '400' })).toBeGreaterThan(5);
      expect(value('vigil_gateway_requests_total', { endpoint: 'metrics', status: '401' })).toBeGreaterThanOrEqual(2);
      expect(value('vigil_gateway_produce_seconds_count', { endpoint: 'metrics' })).toBeGreaterThan(3);
      // Every accepted item travelled in exactly one acknowledged record, and records carried several.
      for (const endpoint of ['events', 'metrics']) {
        expect(value('vigil_gateway_record_items_sum', { endpoint })).toBe(
          value('vigil_gateway_items_total', { endpoint, outcome: 'accepted', reason: 'none' }),
        );
        expect(value('vigil_gateway_record_items_count', { endpoint })).toBeLessThan(
          value('vigil_gateway_record_items_sum', { endpoint })!,
        );
      }
      expect(value('vigil_gateway_inflight_requests')).toBe(0);
      expect(value('vigil_gateway_inflight_bytes')).toBe(0);
      expect(text).toContain('# TYPE vigil_gateway_shed_requests_total counter');
    });
  });
});

/** Prometheus text → value by `name{sorted labels}`, without the process-wide service/roles labels. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g))
      if (pair[1] !== 'service' && pair[1] !== 'roles') labels[pair[1]] = pair[2];
    out.set(sampleKey(match[1], labels), Number(match[3]));
  }
  return out;
}

function sampleKey(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',')}}`;
}
