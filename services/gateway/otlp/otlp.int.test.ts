/**
 * The OTLP/HTTP edge against the real broker: status semantics (200 + partial_success, 400, 401, 413, 415), answers
 * in the request's encoding, the mapping as it lands on Kafka (read back from the test's topics: no writer), and
 * fuzzed protobuf and JSON bodies that never get a 5xx.
 */
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../../bin/runtime.ts';
import { loadCodecs } from '../../../shared/schemas/avro.ts';
import { unbundle } from '../../../test/helpers/bundles.ts';
import { createTestContext, type TestContext } from '../../../test/helpers/context.ts';
import { readTopic } from '../../../test/helpers/read-topic.ts';
import { closeOtlp, listenOtlp } from './listener.ts';
import { signalTypes, STATUS_TYPE, type Signal } from './proto.ts';
import { spanItemId } from './traces.ts';

const codecs = loadCodecs();
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const NOW_NS = () => `${BigInt(Date.now()) * 1_000_000n}`;
const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';

function encode(signal: Signal, body: object): Buffer {
  const { request } = signalTypes(signal);
  return Buffer.from(request.encode(request.fromObject(body)).finish());
}

const resource = {
  attributes: [
    { key: 'service.name', value: { stringValue: 'edge' } },
    { key: 'host.name', value: { stringValue: 'h1' } },
  ],
};

describe('OTLP/HTTP edge', () => {
  let ctx: TestContext;
  let api: Runtime;
  let small: Runtime;
  let token: string;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway');
    small = await ctx.start('gateway', { INGEST_BODY_LIMIT_BYTES: '2048', INGEST_MAX_BATCH_ITEMS: '3' });
    token = ctx.token('user');
  });
  afterAll(() => ctx?.cleanup());

  const post = (signal: Signal, payload: Buffer | string, headers: Record<string, string> = {}, runtime = api) =>
    runtime.app.inject({
      method: 'POST',
      url: `/v1/${signal}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-protobuf', ...headers },
      payload,
    });
  const postJson = (signal: Signal, body: unknown, runtime = api) =>
    post(signal, JSON.stringify(body), { 'content-type': 'application/json' }, runtime);

  it('protobuf logs: valid records published, invalid ones rejected in partial_success (protobuf)', async () => {
    const body = encode('logs', {
      resourceLogs: [
        {
          resource,
          scopeLogs: [
            {
              scope: { name: 'edge-scope' },
              logRecords: [
                {
                  timeUnixNano: NOW_NS(),
                  severityNumber: 17,
                  body: { stringValue: 'boom' },
                  attributes: [{ key: 'password', value: { stringValue: 'x' } }],
                  traceId: Buffer.from(TRACE, 'hex'),
                  spanId: Buffer.from(SPAN, 'hex'),
                },
                { timeUnixNano: NOW_NS(), body: { stringValue: 'bad id' }, traceId: Buffer.from('abcd', 'hex') },
                { timeUnixNano: '1000000000', body: { stringValue: 'too old' } },
              ],
            },
          ],
        },
      ],
    });
    const res = await post('logs', zlib.gzipSync(body), { 'content-encoding': 'gzip' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-protobuf');
    const answer = signalTypes('logs').response.toObject(signalTypes('logs').response.decode(res.rawPayload), {
      longs: Number,
    });
    expect(answer).toEqual({
      partialSuccess: {
        rejectedLogRecords: 2,
        errorMessage: expect.stringMatching(
          new RegExp(
            String.raw`^2 of 3 log records rejected: resource_logs\[0\]\.scope_logs\[0\]\.log_records\[1\]: ` +
              String.raw`trace_id must be 16 bytes \(32 hex digits\), got 2; ` +
              String.raw`resource_logs\[0\]\.scope_logs\[0\]\.log_records\[2\]: ` +
              String.raw`timestamp must be between .* got 1970-01-01T00:00:01\.000Z$`,
          ),
        ),
      },
    });
    const items = unbundle(
      await readTopic(ctx.kafkajs, ctx.config.kafka.topics.events),
      codecs.get('EventBundle')!,
    ).filter((i) => i.item.source === 'edge');
    expect(items).toHaveLength(1);
    expect(items[0].item).toMatchObject({
      event_type: 'log',
      source: 'edge',
      message: 'boom',
      level: 'error',
      tags: JSON.stringify({ 'host.name': 'h1', password: '[REDACTED]', trace_id: TRACE, span_id: SPAN }),
      payload: JSON.stringify({ scope: { name: 'edge-scope' } }),
    });
  });

  it('JSON traces: hex ids, integer enums, 64-bit strings, unknown fields ignored; span events follow', async () => {
    const start = BigInt(Date.now()) * 1_000_000n;
    const res = await postJson('traces', {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'json-svc' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: TRACE,
                  spanId: SPAN,
                  name: 'GET /x',
                  kind: 2,
                  startTimeUnixNano: String(start),
                  endTimeUnixNano: String(start + 1_500_000n),
                  status: { code: 2, message: 'bad' },
                  events: [
                    {
                      timeUnixNano: String(start + 1000n),
                      name: 'exception',
                      attributes: [{ key: 'exception.type', value: { stringValue: 'E' } }],
                    },
                  ],
                  someFutureField: { x: 1 },
                },
                { traceId: 'not-hex', spanId: SPAN, name: 'broken' },
              ],
            },
          ],
        },
      ],
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({
      partialSuccess: {
        rejectedSpans: 1,
        errorMessage:
          '1 of 2 spans rejected: resource_spans[0].scope_spans[0].spans[1]: ' +
          'trace_id must be 16 bytes (32 hex digits), got 1',
      },
    });
    const items = unbundle(
      await readTopic(ctx.kafkajs, ctx.config.kafka.topics.events),
      codecs.get('EventBundle')!,
    ).filter((i) => i.item.source === 'json-svc');
    expect(items.map((i) => [i.item.event_type, i.item.message, i.item.level])).toEqual([
      ['trace', 'GET /x', 'error'],
      ['log', 'exception', 'error'],
    ]);
    expect(items.map((i) => i.item.id)).toEqual([spanItemId(TRACE, SPAN, 0), spanItemId(TRACE, SPAN, 1)]);
    expect(spanItemId(TRACE, SPAN, 0)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(JSON.parse(items[0].item.tags as string)).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(JSON.parse(items[0].item.payload as string)).toEqual({
      kind: 'server',
      start_time_unix_nano: String(start),
      end_time_unix_nano: String(start + 1_500_000n),
      duration_ms: 1.5,
      status: { code: 'error', message: 'bad' },
    });
    expect(items[0].item.timestamp).toBe(Number(start / 1_000_000n));
    expect(JSON.parse(items[1].item.tags as string)).toEqual({ 'exception.type': 'E', trace_id: TRACE, span_id: SPAN });
  });

  it('metrics: unsupported points counted in partial_success, the others mapped with Prometheus names', async () => {
    const point = (value: number) => ({
      timeUnixNano: NOW_NS(),
      asDouble: value,
      attributes: [{ key: 'http.method', value: { stringValue: 'GET' } }],
    });
    const res = await postJson('metrics', {
      resourceMetrics: [
        {
          resource: {
            attributes: [...resource.attributes, { key: 'service.namespace', value: { stringValue: 'shop' } }],
          },
          scopeMetrics: [
            {
              metrics: [
                { name: 'mem.usage', unit: '1', gauge: { dataPoints: [point(0.5)] } },
                { name: 'queue.items', sum: { aggregationTemporality: 1, isMonotonic: false, dataPoints: [point(3)] } },
                {
                  name: 'latency',
                  exponentialHistogram: { aggregationTemporality: 2, dataPoints: [{ scale: 1, count: '1' }] },
                },
                {
                  name: 'rpc.duration',
                  unit: 's',
                  summary: {
                    dataPoints: [
                      { timeUnixNano: NOW_NS(), count: '4', sum: 2, quantileValues: [{ quantile: 0.5, value: 0.4 }] },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      partialSuccess: {
        rejectedDataPoints: 2,
        errorMessage:
          '2 of 4 data points rejected: resource_metrics[0].scope_metrics[0].data_points[1]: queue.items: ' +
          'a non-monotonic sum with DELTA temporality has no Prometheus representation; export it as CUMULATIVE; ' +
          'resource_metrics[0].scope_metrics[0].data_points[2]: ' +
          'latency: exponential histograms are not supported; use explicit bucket histograms',
      },
    });
    const items = unbundle(await readTopic(ctx.kafkajs, ctx.config.kafka.topics.metrics), codecs.get('MetricBundle')!);
    const job = { job: 'shop/edge' };
    expect(items.map((i) => [i.item.name, i.item.metric_type, i.item.value, i.item.labels]).sort()).toEqual([
      ['mem_usage_ratio', 'gauge', 0.5, { http_method: 'GET', ...job }],
      ['rpc_duration_seconds', 'gauge', 0.4, { ...job, quantile: '0.5' }],
      ['rpc_duration_seconds_count', 'gauge', 4, job],
      ['rpc_duration_seconds_sum', 'gauge', 2, job],
    ]);
  });

  it('answers 400 for an undecodable body (google.rpc.Status in the request encoding), 200 for none', async () => {
    const bad = await post('metrics', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toBe('application/x-protobuf');
    const status = STATUS_TYPE.toObject(STATUS_TYPE.decode(bad.rawPayload));
    expect(status).toEqual({
      code: 3,
      message: expect.stringMatching(
        /^VIGIL_ERR_MALFORMED_BODY: the body is not a valid protobuf ExportMetricsServiceRequest: /,
      ),
    });

    const json = await post('logs', '[1,2]', { 'content-type': 'application/json' });
    expect(json.statusCode).toBe(400);
    expect(json.json()).toEqual({
      code: 3,
      message:
        'VIGIL_ERR_MALFORMED_BODY: the body is not a valid OTLP JSON ExportLogsServiceRequest: ' +
        'the body must be a JSON object (ExportLogsServiceRequest)',
    });
    const wrongType = await postJson('logs', { resourceLogs: 'nope' });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().message).toMatch(/resourceLogs: array expected/);

    const empty = await post('traces', Buffer.alloc(0));
    expect(empty.statusCode).toBe(200);
    expect(empty.rawPayload.length).toBe(0);
  });

  it('answers 401, 413 and 415 as google.rpc.Status too', async () => {
    const anonymous = await api.app.inject({
      method: 'POST',
      url: '/v1/logs',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toEqual({
      code: 16,
      message: expect.stringMatching(/^VIGIL_ERR_UNAUTHORIZED: a bearer token is required/),
    });

    const text = await post('logs', 'hello', { 'content-type': 'text/plain' });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toEqual({ code: 3, message: expect.stringMatching(/^VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE: /) });

    // 2048-byte limit after decompression: a small gzip body that inflates beyond it.
    const bomb = zlib.gzipSync(
      encode('logs', {
        resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'x'.repeat(10_000) } }] }] }],
      }),
    );
    expect(bomb.length).toBeLessThan(2048);
    const tooLarge = await post('logs', bomb, { 'content-encoding': 'gzip' }, small);
    expect(tooLarge.statusCode).toBe(413);
    expect(STATUS_TYPE.toObject(STATUS_TYPE.decode(tooLarge.rawPayload))).toEqual({
      code: 8,
      message: 'VIGIL_ERR_PAYLOAD_TOO_LARGE: the decompressed body exceeds the limit of 2048 bytes',
    });

    // INGEST_MAX_BATCH_ITEMS = 3: four log records.
    const many = await postJson('logs', { resourceLogs: [{ scopeLogs: [{ logRecords: [{}, {}, {}, {}] }] }] }, small);
    expect(many.statusCode).toBe(413);
    expect(many.json()).toEqual({
      code: 8,
      message:
        'VIGIL_ERR_PAYLOAD_TOO_LARGE: the request has more than 3 log records (INGEST_MAX_BATCH_ITEMS); ' +
        'export smaller batches',
    });
  });

  it('OTLP_HTTP_PORT: a second port serves the OTLP routes, with the same auth, and nothing else', async () => {
    const server = await listenOtlp(api, '127.0.0.1', 0);
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const body = JSON.stringify({
        resourceLogs: [{ resource, scopeLogs: [{ logRecords: [{ body: { stringValue: 'via 4318' } }] }] }],
      });
      const ok = await fetch(`${base}/v1/logs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      expect([ok.status, await ok.text()]).toEqual([200, '{}']);
      const anonymous = await fetch(`${base}/v1/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(anonymous.status).toBe(401);
      const api404 = await fetch(`${base}/api/v1/monitoring/events`, { headers: { authorization: `Bearer ${token}` } });
      expect([api404.status, await api404.json()]).toEqual([
        404,
        { code: 5, message: 'only /v1/logs, /v1/metrics, /v1/traces are served on this port' },
      ]);
    } finally {
      await closeOtlp(server);
    }
  });

  describe('fuzz: mutated protobuf and JSON bodies never get a 5xx', () => {
    const valid: Record<Signal, Buffer> = {
      logs: encode('logs', {
        resourceLogs: [
          {
            resource,
            scopeLogs: [
              {
                logRecords: [
                  {
                    timeUnixNano: NOW_NS(),
                    body: {
                      kvlistValue: { values: [{ key: 'a', value: { arrayValue: { values: [{ intValue: 1 }] } } }] },
                    },
                    traceId: Buffer.from(TRACE, 'hex'),
                  },
                ],
              },
            ],
          },
        ],
      }),
      traces: encode('traces', {
        resourceSpans: [
          {
            resource,
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: Buffer.from(TRACE, 'hex'),
                    spanId: Buffer.from(SPAN, 'hex'),
                    name: 'n',
                    startTimeUnixNano: NOW_NS(),
                    events: [{ name: 'e' }],
                  },
                ],
              },
            ],
          },
        ],
      }),
      metrics: encode('metrics', {
        resourceMetrics: [
          {
            resource,
            scopeMetrics: [
              {
                metrics: [
                  {
                    name: 'h',
                    histogram: {
                      aggregationTemporality: 1,
                      dataPoints: [
                        { timeUnixNano: NOW_NS(), count: 3, sum: 1, bucketCounts: [1, 2], explicitBounds: [0.5] },
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
    };
    const mutated = (signal: Signal) =>
      fc
        .array(
          fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'truncate', 'insert', 'delete')),
          { minLength: 1, maxLength: 6 },
        )
        .map((edits) => {
          let bytes = Buffer.from(valid[signal]);
          for (const [at, byte, kind] of edits) {
            const i = at % (bytes.length + 1);
            if (kind === 'flip' && i < bytes.length) bytes[i] = byte;
            else if (kind === 'truncate') bytes = bytes.subarray(0, i);
            else if (kind === 'insert')
              bytes = Buffer.concat([bytes.subarray(0, i), Buffer.of(byte), bytes.subarray(i)]);
            else bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
          }
          return { signal, bytes };
        });
    const anySignal = fc.constantFrom<Signal>('logs', 'traces', 'metrics');

    it('mutated and random protobuf', async () => {
      const bodies = fc.oneof(
        anySignal.chain(mutated),
        fc.record({ signal: anySignal, bytes: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) }),
      );
      await fc.assert(
        fc.asyncProperty(bodies, async ({ signal, bytes }) => {
          const res = await post(signal, bytes);
          expect(res.statusCode, res.body).toBeLessThan(500);
          expect([200, 400, 413]).toContain(res.statusCode);
        }),
        { numRuns: FUZZ_RUNS },
      );
    }, 120_000);

    it('JSON of every shape in OTLP places', async () => {
      const nasty = fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.constantFrom('ff', 'zz', '-1', '1e400', '18446744073709551616', null, [], {}),
      );
      const body = fc.record({
        signal: anySignal,
        value: fc.oneof(
          nasty,
          nasty.map((v) => ({
            resourceLogs: [
              {
                scopeLogs: [
                  { logRecords: [{ timeUnixNano: v, body: v, traceId: v, attributes: [{ key: 'k', value: v }] }] },
                ],
              },
            ],
          })),
          nasty.map((v) => ({
            resourceSpans: [
              { scopeSpans: [{ spans: [{ traceId: TRACE, spanId: v, startTimeUnixNano: v, kind: v, status: v }] }] },
            ],
          })),
          nasty.map((v) => ({
            resourceMetrics: [
              {
                scopeMetrics: [
                  {
                    metrics: [
                      {
                        name: v,
                        sum: {
                          dataPoints: [{ asInt: v, timeUnixNano: v }],
                          aggregationTemporality: v,
                          isMonotonic: true,
                        },
                      },
                    ],
                  },
                ],
              },
            ],
          })),
        ),
      });
      await fc.assert(
        fc.asyncProperty(body, async ({ signal, value }) => {
          const res = await post(signal, JSON.stringify(value) ?? 'null', { 'content-type': 'application/json' });
          expect(res.statusCode, res.body).toBeLessThan(500);
        }),
        { numRuns: FUZZ_RUNS },
      );
    }, 120_000);

    it('a body nested deeper than any stack is a 400, not a crash', async () => {
      let value = '{"stringValue":"x"}';
      for (let i = 0; i < 20_000; i++) value = `{"arrayValue":{"values":[${value}]}}`;
      const res = await post('logs', `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${value}}]}]}]}`, {
        'content-type': 'application/json',
      });
      expect([200, 400]).toContain(res.statusCode);
      // The same nesting in protobuf: LogRecord.body = AnyValue{array_value: ArrayValue{values: [AnyValue{…}]}}.
      const prefixes: Buffer[] = [];
      let length = 3; // the innermost AnyValue: string_value "x"
      const wrap = (field: number) => {
        const prefix = Buffer.concat([Buffer.of((field << 3) | 2), varint(length)]);
        prefixes.push(prefix);
        length += prefix.length;
      };
      for (let i = 0; i < 20_000; i++) {
        wrap(1); // ArrayValue.values
        wrap(5); // AnyValue.array_value
      }
      // LogRecord.body, ScopeLogs.log_records, ResourceLogs.scope_logs, the request's resource_logs
      for (const field of [5, 2, 2, 1]) wrap(field);
      const proto = await post('logs', Buffer.concat([...prefixes.reverse(), Buffer.from([0x0a, 0x01, 0x78])]));
      expect(proto.statusCode).toBeLessThan(500);
    });
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
