/**
 * POST /api/v1/write through the real gateway → Kafka → writer → PostgreSQL, with bodies built as a sender builds
 * them (protobufjs + snappyjs): what is stored, every refusal's status and body, retries stored once, capacity as
 * 503 + Retry-After, and fuzzed bodies never answered 5xx.
 */
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import snappy from 'snappyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../../bin/runtime.ts';
import { countRows, createTestContext, waitFor, type TestContext } from '../../../test/helpers/context.ts';
import {
  doubleFromBits,
  encodeWriteRequest,
  REMOTE_WRITE_HEADERS,
  remoteWriteBody,
  STALE_MARKER_BITS,
  type WriteRequestInput,
} from './encode.ts';
import { seriesId } from './mapping.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

describe('remote_write receiver', () => {
  let ctx: TestContext;
  let api: Runtime;
  let tight: Runtime;
  let token: string;
  const now = Math.floor(Date.now() / 1000) * 1000 - 60_000;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway');
    tight = await ctx.start('gateway', { INGEST_MAX_INFLIGHT_BYTES: '1024' });
    await ctx.start('writer');
    token = ctx.token('user', 'prometheus-agent');
  });
  afterAll(() => ctx?.cleanup());

  const write = (body: Buffer | WriteRequestInput, headers: Record<string, string> = {}, runtime = api) =>
    runtime.app.inject({
      method: 'POST',
      url: '/api/v1/write',
      headers: { ...REMOTE_WRITE_HEADERS, authorization: `Bearer ${token}`, ...headers },
      payload: Buffer.isBuffer(body) ? body : remoteWriteBody(body),
    });
  const rows = async (name: string) =>
    (
      await ctx.db.query(
        `SELECT id, name, metric_type, value, labels, (extract(epoch FROM "timestamp") * 1000)::bigint AS ms, created_by
       FROM metrics WHERE name = $1 ORDER BY "timestamp", value`,
        [name],
      )
    ).rows.map((r) => ({ ...r, ms: Number(r.ms) }));

  /** Waits until the writer committed every record of the metrics topic. */
  const writerCaughtUp = async () => {
    const admin = ctx.kafkajs.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(ctx.config.kafka.topics.metrics).finally(() => admin.disconnect());
    const end = ends.reduce((sum, p) => sum + Number(p.high), 0);
    await waitFor(
      () =>
        countRows(ctx.db, 'SELECT coalesce(sum(next_offset), 0) AS n FROM consumer_offsets WHERE topic = $1', [
          ctx.config.kafka.topics.metrics,
        ]),
      (n) => n >= end,
    );
  };

  it('answers 204 and stores every sample under its name and labels as gauges; a resent batch once', async () => {
    const input: WriteRequestInput = {
      timeseries: [
        {
          labels: { __name__: 'rw_requests_total', code: '200', job: 'api' },
          samples: [
            { value: 5, timestamp: now },
            { value: 9, timestamp: now + 15_000 },
          ],
        },
        { labels: { __name__: 'rw_temperature', room: 'lab' }, samples: [{ value: -2.25, timestamp: now }] },
      ],
    };
    const first = await write(input);
    expect([first.statusCode, first.body]).toEqual([204, '']);
    const again = await write(input); // what Prometheus does after a 503 whose samples reached Kafka anyway
    expect(again.statusCode).toBe(204);
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM metrics WHERE name LIKE 'rw_%'"),
      (n) => n >= 3,
    );
    const labels = { code: '200', job: 'api' };
    expect(await rows('rw_requests_total')).toEqual([
      {
        id: seriesId('rw_requests_total', labels, now),
        name: 'rw_requests_total',
        metric_type: 'gauge',
        value: 5,
        labels,
        ms: now,
        created_by: 'prometheus-agent',
      },
      {
        id: seriesId('rw_requests_total', labels, now + 15_000),
        name: 'rw_requests_total',
        metric_type: 'gauge',
        value: 9,
        labels,
        ms: now + 15_000,
        created_by: 'prometheus-agent',
      },
    ]);
    expect(await rows('rw_temperature')).toEqual([
      {
        id: seriesId('rw_temperature', { room: 'lab' }, now),
        name: 'rw_temperature',
        metric_type: 'gauge',
        value: -2.25,
        labels: { room: 'lab' },
        ms: now,
        created_by: 'prometheus-agent',
      },
    ]);
    // The second copy reached Kafka and the writer too: it was de-duplicated, not lost in flight.
    await writerCaughtUp();
    expect(await countRows(ctx.db, "SELECT count(*) AS n FROM metrics WHERE name LIKE 'rw_%'")).toBe(3);
  });

  it('answers 400 naming the refused samples and stores the valid ones', async () => {
    const res = await write({
      timeseries: [
        {
          labels: { __name__: 'rw_partial', ok: 'yes' },
          samples: [
            { value: 1, timestamp: now },
            { value: Number.NaN, timestamp: now + 1 },
          ],
        },
        { labels: { job: 'nameless' }, samples: [{ value: 1, timestamp: now }] },
        {
          labels: { __name__: 'rw_partial_total' },
          samples: [
            { value: -4, timestamp: now },
            { value: 4, timestamp: 1000 },
          ],
        },
        { labels: { __name__: 'rw_partial', __bad: 'x' }, samples: [{ value: 2, timestamp: now }] },
        {
          labels: { __name__: 'rw_partial', ok: 'too' },
          samples: [{ value: doubleFromBits(STALE_MARKER_BITS), timestamp: now + 5 }],
        },
      ],
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.success).toBe(false);
    expect(body.error.code).toBe('VIGIL_ERR_VALIDATION');
    expect(body.error.message).toMatch(
      /^5 samples were refused, 1 stored: timeseries\[1\]\.labels has no __name__ label \(the metric name\); /,
    );
    expect(body.error.details).toEqual([
      { field: 'timeseries[1].labels', message: 'has no __name__ label (the metric name)' },
      {
        field: 'timeseries[2].samples[0].value',
        message:
          'must not be negative: rw_partial_total is a running total ' +
          '(a counter or a histogram/summary count or sum), got -4',
      },
      { field: 'timeseries[0].samples[1].value', message: 'must be a finite number, got number NaN' },
      {
        field: 'timeseries[2].samples[1].timestamp',
        message: expect.stringMatching(/^must be between .* got 1970-01-01T00:00:01.000Z$/),
      },
      {
        field: 'timeseries[3].samples[0].labels.__bad',
        message: 'label name must match ^[a-zA-Z_][a-zA-Z0-9_]*$ and not start with __',
      },
    ]);
    await waitFor(
      () => rows('rw_partial'),
      (r) => r.length === 1,
    );
    expect((await rows('rw_partial')).map((r) => [r.value, r.labels, r.ms])).toEqual([[1, { ok: 'yes' }, now]]);
    expect(await rows('rw_partial_total')).toEqual([]);
  });

  it('accepts metadata-only requests and staleness markers with 204, storing nothing for them', async () => {
    const meta = await write({ metadata: [{ type: 1, metricFamilyName: 'rw_meta_total', help: 'h' }] });
    expect([meta.statusCode, meta.body]).toEqual([204, '']);
    const stale = await write({
      timeseries: [
        { labels: { __name__: 'rw_stale' }, samples: [{ value: doubleFromBits(STALE_MARKER_BITS), timestamp: now }] },
      ],
    });
    expect([stale.statusCode, stale.body]).toEqual([204, '']);
    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(
      /^vigil_gateway_items_total\{[^}]*endpoint="remote_write",outcome="skipped",reason="stale_marker"[^}]*\} [1-9]/m,
    );
    expect(await rows('rw_stale')).toEqual([]);
  });

  it('refuses remote-write 2.0 and other encodings with 415, a snappy bomb with 413, no token with 401', async () => {
    const body = remoteWriteBody({
      timeseries: [{ labels: { __name__: 'rw_refused' }, samples: [{ value: 1, timestamp: now }] }],
    });
    const v2 = await write(body, { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' });
    expect([v2.statusCode, v2.json().error.code]).toEqual([415, 'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE']);
    expect(v2.json().error.message).toMatch(/^Content-Type proto=io.prometheus.write.v2.Request is not supported/);
    const gzip = await write(body, { 'content-encoding': 'gzip' });
    expect([gzip.statusCode, gzip.json().error.message]).toEqual([
      415,
      'Content-Encoding must be snappy (the block format) for remote-write, got "gzip"',
    ]);
    const json = await write(Buffer.from('{}'), { 'content-type': 'application/json' });
    expect([json.statusCode, json.json().error.code]).toEqual([415, 'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE']);
    // 64 MB of zeros in a ~3 MB block would be refused by its size; this is a few kB claiming 64 MB.
    const bomb = Buffer.from(snappy.compress(Buffer.alloc(64 * 1024 * 1024))).subarray(0, 4096);
    const big = await write(Buffer.from(bomb));
    expect([big.statusCode, big.json().error]).toEqual([
      413,
      {
        code: 'VIGIL_ERR_PAYLOAD_TOO_LARGE',
        message:
          'the snappy body declares 67108864 uncompressed bytes; at most 5242880 are accepted ' +
          "(INGEST_BODY_LIMIT_BYTES): lower the sender's max_samples_per_send",
      },
    ]);
    const anonymous = await api.app.inject({
      method: 'POST',
      url: '/api/v1/write',
      headers: REMOTE_WRITE_HEADERS,
      payload: body,
    });
    expect([anonymous.statusCode, anonymous.json().error.code]).toEqual([401, 'VIGIL_ERR_UNAUTHORIZED']);
    const protobufGarbage = await write(Buffer.from(snappy.compress(Buffer.from([0x0a, 0xff, 0xff, 0x01]))));
    expect([protobufGarbage.statusCode, protobufGarbage.json().error.code]).toEqual([400, 'VIGIL_ERR_MALFORMED_BODY']);
    expect(await rows('rw_refused')).toEqual([]);
  });

  it('answers 503 + Retry-After (never 429) when the gateway is at its in-flight bounds', async () => {
    const held = new PassThrough();
    const heldAnswer = tight.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/events',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: held,
    });
    const inflight = async () =>
      Number(
        /^vigil_gateway_inflight_bytes\{[^}]*\} (\d+)$/m.exec(
          (await tight.app.inject({ method: 'GET', url: '/metrics' })).body,
        )?.[1],
      );
    held.write(`[{"event_type":"log","source":"hold","message":"${'x'.repeat(900)}"}`);
    await waitFor(inflight, (n) => n >= 900);
    const samples = Array.from({ length: 20 }, (_, i) => ({ value: i, timestamp: now + i }));
    const refused = await write({ timeseries: [{ labels: { __name__: 'rw_capacity' }, samples }] }, {}, tight);
    expect([refused.statusCode, refused.headers['retry-after'], refused.json().error.code]).toEqual([
      503,
      '1',
      'VIGIL_ERR_AT_CAPACITY',
    ]);
    held.end(']');
    expect((await heldAnswer).statusCode).toBe(202);
    const retried = await write({ timeseries: [{ labels: { __name__: 'rw_capacity' }, samples }] }, {}, tight);
    expect(retried.statusCode).toBe(204);
  });

  it('answers every fuzzed body with a 4xx, never a 5xx', async () => {
    const valid = encodeWriteRequest({
      timeseries: [{ labels: { __name__: 'rw_fuzz', a: 'b' }, samples: [{ value: 1, timestamp: now }] }],
    });
    const mutated = fc
      .tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }))
      .map(([at, byte]) => {
        const copy = Buffer.from(valid);
        copy[at] = byte;
        return copy;
      });
    const protobufBytes = fc.oneof(
      mutated,
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    );
    const body = fc.oneof(
      protobufBytes.map((b) => Buffer.from(snappy.compress(b))),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      protobufBytes
        .map((b) => Buffer.from(snappy.compress(b)))
        .chain((b) => fc.integer({ min: 0, max: b.length }).map((n) => b.subarray(0, n))),
    );
    const headers = fc.record({
      'content-type': fc.constantFrom(
        'application/x-protobuf',
        'application/x-protobuf; proto=prometheus.WriteRequest',
        'application/x-protobuf;proto=io.prometheus.write.v2.Request',
        'text/plain',
        'application/json',
      ),
      'content-encoding': fc.constantFrom('snappy', 'gzip', 'identity', ''),
      authorization: fc.constantFrom(`Bearer ${token}`, 'Bearer nope', ''),
    });
    await fc.assert(
      fc.asyncProperty(body, headers, async (payload, h) => {
        const res = await api.app.inject({ method: 'POST', url: '/api/v1/write', headers: h, payload });
        if (res.statusCode === 204) return;
        expect(res.statusCode).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
        expect(res.json().success).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});
