/**
 * Ingest end to end: HTTP → gateway → Kafka → writer → PostgreSQL, the gateway and the writer in separate runtimes.
 * Idempotency (a resent id is stored once), a partial NDJSON+gzip batch, and metric samples with their labels.
 */
import zlib from 'node:zlib';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { createTestContext, countRows, waitFor, waitForWriterAtEnd, type TestContext } from './helpers/context.ts';

describe('ingest end to end', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  const sub = 'c0ffee00-0000-4000-8000-000000000042';

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway');
    await ctx.start('writer');
    token = ctx.token('user', sub);
  });
  afterAll(() => ctx?.cleanup());

  const post = (path: 'events' | 'metrics', payload: string | Buffer, headers: Record<string, string> = {}) =>
    api.app.inject({
      method: 'POST',
      url: `/api/v1/monitoring/${path}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      payload,
    });

  it('stores an event resent with the same id once (single, batch and a different request id alike)', async () => {
    const id = uuidv7();
    const event = {
      id,
      event_type: 'alert',
      source: 'idempotency',
      message: 'disk full',
      level: 'error',
      tags: { host: 'db-1' },
    };
    const first = await post('events', JSON.stringify(event), { 'x-request-id': 'try-1' });
    expect(first.statusCode).toBe(202);
    const again = await post('events', JSON.stringify([event]), { 'x-request-id': 'try-2' });
    expect(again.statusCode).toBe(202);
    expect(again.json().data.ids).toEqual([id]);
    const third = await post('events', JSON.stringify({ events: [event] }));
    expect(third.statusCode).toBe(202);
    // A marker posted after the duplicates: once it is stored, the duplicates (same partition, earlier) were handled.
    const marker = await post(
      'events',
      JSON.stringify({ event_type: 'log', source: 'idempotency', message: 'marker' }),
    );
    expect(marker.statusCode).toBe(202);

    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source = 'idempotency' AND message = 'marker'"),
      (n) => n === 1,
    );
    const { rows } = await ctx.db.query(
      'SELECT id, "timestamp", event_type, level, message, tags, created_by FROM events WHERE id = $1',
      [id],
    );
    expect(rows).toEqual([
      {
        id,
        timestamp: new Date(first.json().data.timestamp),
        event_type: 'alert',
        level: 'error',
        message: 'disk full',
        // The first copy wins; the resends (with other request ids) were not stored.
        tags: { host: 'db-1', request_id: 'try-1' },
        created_by: sub,
      },
    ]);
  });

  it('stores the valid lines of a gzip NDJSON batch and none of the invalid ones', async () => {
    const lines = [
      { event_type: 'log', source: 'ndjson-e2e', message: 'one' },
      { event_type: 'nope', source: 'ndjson-e2e', message: 'bad' },
      { event_type: 'trace', source: 'ndjson-e2e', message: 'two', payload: { password: 'p', span: 'abc' } },
    ];
    const body = zlib.gzipSync(lines.map((l) => JSON.stringify(l)).join('\n'));
    const res = await post('events', body, { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' });
    expect(res.statusCode).toBe(202);
    const { data } = res.json();
    expect([data.accepted, data.rejected]).toEqual([2, 1]);
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM events WHERE source = 'ndjson-e2e'"),
      (n) => n === 2,
    );
    const { rows } = await ctx.db.query(
      "SELECT id, message, payload FROM events WHERE source = 'ndjson-e2e' ORDER BY message",
    );
    expect(rows).toEqual([
      { id: data.ids[0], message: 'one', payload: {} },
      { id: data.ids[2], message: 'two', payload: { password: '[REDACTED]', span: 'abc' } },
    ]);
  });

  it('stores metric samples with their labels, and a resent sample id once', async () => {
    const id = uuidv7();
    const hourAgo = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    const samples = [
      { id, name: 'http_requests_total', metric_type: 'counter', value: 1, labels: { method: 'GET', status: '200' } },
      {
        name: 'cpu_usage',
        metric_type: 'gauge',
        value: 0.75,
        labels: { host: 'web-1' },
        timestamp: hourAgo.toISOString(),
      },
    ];
    const res = await post('metrics', JSON.stringify({ metrics: samples }));
    expect(res.statusCode).toBe(202);
    const { ids } = res.json().data;
    expect((await post('metrics', JSON.stringify(samples[0]))).statusCode).toBe(202);

    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM metrics'),
      (n) => n === 2,
    );
    await waitForWriterAtEnd(ctx, ctx.config.kafka.topics.metrics); // a late duplicate would show now
    const { rows } = await ctx.db.query(
      'SELECT id, "timestamp", name, metric_type, value, labels, created_by FROM metrics ORDER BY name',
    );
    expect(rows).toEqual([
      {
        id: ids[1],
        timestamp: hourAgo,
        name: 'cpu_usage',
        metric_type: 'gauge',
        value: 0.75,
        labels: { host: 'web-1' },
        created_by: sub,
      },
      {
        id,
        timestamp: expect.any(Date),
        name: 'http_requests_total',
        metric_type: 'counter',
        value: 1,
        labels: { method: 'GET', status: '200' },
        created_by: sub,
      },
    ]);
  });
});
