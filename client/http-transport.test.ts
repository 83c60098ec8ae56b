import { afterEach, describe, expect, it } from 'vitest';
import { batchBody, HttpTransport } from './http-transport.ts';
import { HttpSink } from './testing/http-sink.ts';

const item = (value: unknown) => {
  const json = JSON.stringify(value);
  return { json, key: null, bytes: Buffer.byteLength(json) };
};

let sinks: HttpSink[] = [];
afterEach(async () => {
  for (const s of sinks) await s.close();
  sinks = [];
});

describe('batchBody', () => {
  it('writes {"<kind>":[…]} as UTF-8 of exactly the right size, multi-byte characters included', () => {
    const items = [item({ message: 'plain' }), item({ message: 'café ✓ 日本 🚀' }), item({ n: 3 })];
    const body = batchBody('events', items);
    expect(JSON.parse(body.toString('utf8'))).toEqual({
      events: [{ message: 'plain' }, { message: 'café ✓ 日本 🚀' }, { n: 3 }],
    });
    expect(body.buffer.byteLength).toBe(body.length);
    expect(batchBody('metrics', [item({ a: 1 })]).toString()).toBe('{"metrics":[{"a":1}]}');
  });
});

describe('HttpTransport', () => {
  for (const offThread of [true, false]) {
    it(`posts gzip batches ${offThread ? 'from a worker thread' : 'on the event loop'}, maps the answers`, async () => {
      const sink = await HttpSink.start({
        answer: (_r, i) =>
          i === 0
            ? { status: 202, body: { success: true, data: { accepted: 1, rejected: 1 } } }
            : { status: 503, headers: { 'retry-after': '7' }, body: {} },
      });
      sinks.push(sink);
      const transport = new HttpTransport({
        url: `${sink.url}/`,
        token: async () => 'dynamic-token',
        timeoutMs: 2000,
        compress: true,
        offThread,
      });
      try {
        expect(await transport.send('metrics', [item({ a: 1 }), item({ b: 'ü' })], Infinity)).toEqual({
          type: 'delivered',
          rejected: 1,
          detail: '{"success":true,"data":{"accepted":1,"rejected":1}}',
        });
        expect(await transport.send('events', [item({ c: 2 })], Infinity)).toEqual({
          type: 'retry',
          retryAfterMs: 7000,
          reason: `POST ${sink.url}/api/v1/monitoring/events answered 503: {}`,
        });
        expect(
          sink.requests.map((r) => [r.path, r.headers.authorization, r.headers['content-encoding'], r.body]),
        ).toEqual([
          ['/api/v1/monitoring/metrics', 'Bearer dynamic-token', 'gzip', { metrics: [{ a: 1 }, { b: 'ü' }] }],
          ['/api/v1/monitoring/events', 'Bearer dynamic-token', 'gzip', { events: [{ c: 2 }] }],
        ]);
      } finally {
        await transport.close();
      }
    });
  }

  it('reports a refused connection as retriable', async () => {
    const transport = new HttpTransport({
      url: 'http://127.0.0.1:9',
      token: 't',
      timeoutMs: 2000,
      compress: true,
      offThread: true,
    });
    const outcome = await transport.send('events', [item({})], Infinity);
    await transport.close();
    expect(outcome).toEqual({
      type: 'retry',
      retryAfterMs: null,
      reason: expect.stringMatching(
        /^POST http:\/\/127\.0\.0\.1:9\/api\/v1\/monitoring\/events failed: .*ECONNREFUSED/,
      ),
    });
  });
});
