/**
 * Whatever the gateway acknowledges, PostgreSQL stores: no index key built from what a producer sends may exceed
 * the btree limit (~2.7 KB per entry). Posted over HTTP through the real gateway, stored by the writer, read back:
 *   - events of every level (and an alert event) with ~8 KB of incompressible tags: warn and above are in the
 *     partial covering index events_notable_idx, which used to include the tags whole (error events were
 *     acknowledged, then dead-lettered as rejected_by_database);
 *   - a source of the longest accepted length, in three-byte characters;
 *   - a metric sample with ~4 KB of incompressible labels, folded into metric_series (its key held the labels);
 *   - an aggregation rule `sum by (...)` over such labels with two alerter members, whose partials carry the
 *     group's key (alert_partials' primary key held it).
 * Nothing reaches the dead-letter topic.
 */
import crypto from 'node:crypto';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import type { Alerter } from '../services/alerter/alerter.ts';
import { foldOnce } from '../services/query/series-fold.ts';
import { readTimeline } from '../services/incidents/timeline.ts';
import type { IncidentRow } from '../services/incidents/store.ts';
import { SOURCE_MAX_LENGTH_CAP } from '../shared/config.ts';
import { createTestContext, countRows, waitFor, type TestContext } from './helpers/context.ts';
import { readTopic } from './helpers/read-topic.ts';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** Random base64url text of `length` characters: nothing a compressor can shrink. */
const noise = (length: number) => crypto.randomBytes(length).toString('base64url').slice(0, length);

/** Tags of just under `bytes` bytes of JSON, of random values, plus the given small tags. */
function bigTags(bytes: number, small: Record<string, string> = {}): Record<string, string> {
  const tags: Record<string, string> = { ...small };
  for (let i = 0; JSON.stringify(tags).length < bytes - 1100; i++) tags[`k${i}`] = noise(1000);
  return tags;
}

/** A string of `length` random CJK characters (three bytes each in UTF-8). */
const wideNoise = (length: number) =>
  String.fromCharCode(
    ...Array.from(crypto.randomBytes(2 * length).subarray(0, length), (b, i) => 0x4e00 + (((b << 4) ^ i) % 0x5000)),
  );

describe('what the gateway accepts is storable', () => {
  let ctx: TestContext;
  let vigil: Runtime;
  let base: string;

  beforeAll(async () => {
    ctx = await createTestContext({ INGEST_SOURCE_MAX_LENGTH: String(SOURCE_MAX_LENGTH_CAP) });
    vigil = await ctx.start('gateway,writer,query');
    await vigil.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(vigil.app.server.address() as net.AddressInfo).port}/api/v1/monitoring`;
  });
  afterAll(() => ctx?.cleanup());

  const send = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.token('user')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { data: { id: string } } };
  };
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${ctx.token('admin')}` } });
    return { status: res.status, body: (await res.json()) as { data: Record<string, unknown> } };
  };

  it('stores events with 8 KB of incompressible tags on each level, a longest source, none dead-lettered', async () => {
    const sent: { id: string; body: Record<string, unknown> }[] = [];
    const items = [
      ...LEVELS.map((level) => ({
        event_type: 'log',
        source: 'big-tags',
        level,
        message: `a ${level} event`,
        tags: bigTags(8192, { scope: 'wide' }),
      })),
      { event_type: 'alert', source: 'big-tags', level: 'error', message: 'an alert event', tags: bigTags(8192) },
      {
        event_type: 'log',
        source: wideNoise(SOURCE_MAX_LENGTH_CAP),
        level: 'fatal',
        message: 'longest source',
        tags: bigTags(8192),
      },
    ];
    for (const item of items) {
      expect(Buffer.byteLength(JSON.stringify(item.tags))).toBeGreaterThan(7000);
      const res = await send('/events', item);
      expect(res.status).toBe(202);
      sent.push({ id: res.body.data.id, body: item });
    }
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM events'),
      (n) => n === items.length,
      30_000,
    );
    for (const { id, body } of sent) {
      const res = await get(`/events/${id}`);
      expect(res.status).toBe(200);
      expect(res.body.data).toMatchObject({ id, ...body });
    }
    // Large tags are left out of the covering index; small ones are in it.
    expect(
      await countRows(
        ctx.db,
        "SELECT count(*) AS n FROM events WHERE level IN ('warn', 'error', 'fatal') AND notable_tags IS NULL",
      ),
    ).toBe(5);
    expect(await readTopic(ctx.kafkajs, ctx.config.kafka.topics.dlq)).toEqual([]);
  });

  it('refuses with 400 what jsonb would refuse: an unpaired surrogate in tags, payload or a label value', async () => {
    const event = await send('/events', {
      event_type: 'log',
      source: 'lone',
      level: 'error',
      tags: { ok: '😀', bad: 'x\ud800' },
    });
    expect(event).toEqual({ status: 400, body: expect.objectContaining({ success: false }) });
    expect((event.body as unknown as { error: { details: unknown } }).error.details).toEqual([
      { field: 'tags', message: 'must not contain an unpaired UTF-16 surrogate (PostgreSQL refuses it in JSON)' },
    ]);
    const payload = await send('/events', [
      { event_type: 'log', source: 'lone', payload: { '\udc00': 1 } },
      { event_type: 'log', source: 'lone', payload: { pair: '😀' } },
    ]);
    expect(payload.status).toBe(202);
    expect(payload.body.data).toMatchObject({
      accepted: 1,
      rejected: 1,
      errors: [
        {
          index: 0,
          field: 'payload',
          message: 'must not contain an unpaired UTF-16 surrogate (PostgreSQL refuses it in JSON)',
        },
      ],
    });
    const metric = await send('/metrics', { name: 'lone', metric_type: 'gauge', value: 1, labels: { l: '\udbff' } });
    expect(metric.status).toBe(400);
    expect((metric.body as unknown as { error: { details: unknown } }).error.details).toEqual([
      { field: 'labels.l', message: 'must not contain an unpaired UTF-16 surrogate (PostgreSQL refuses it in JSON)' },
    ]);
  });

  it('an incident timeline finds notable events by a declared tag even when their tags outgrow the index', async () => {
    const now = Date.now();
    const incident = {
      id: crypto.randomUUID(),
      started_at: new Date(now - 60_000),
      resolved_at: null,
      sources: [],
      tags: { scope: 'wide' },
    } as unknown as IncidentRow;
    const page = await readTimeline(ctx.db, incident, { limit: 50, offset: 0 }, now + 60_000);
    // The declared tag selects the warn+ events carrying it (their tags are read from the rows); an `alert` event
    // that a producer posted is an ordinary event (only the alerter's own are taken as alerts).
    const events = page.entries.filter((e) => e.kind === 'event').map((e) => e.message);
    expect(events.sort()).toEqual(['a error event', 'a fatal event', 'a warn event']);
  });

  it('stores a metric sample with 4 KB of incompressible labels and folds it into the Prometheus series', async () => {
    const labels = { a: noise(1024), b: noise(1024), c: noise(1024), d: noise(1024) };
    const res = await send('/metrics', { name: 'wide_labels', metric_type: 'counter', value: 3, labels });
    expect(res.status).toBe(202);
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM metrics'),
      (n) => n === 1,
      30_000,
    );
    await waitFor(
      async () => (await foldOnce(ctx.db, { retentionDays: 30 })).folded,
      (folded) => folded,
    );
    const { rows } = await ctx.db.query('SELECT name, labels, sample_count, value_sum FROM metric_series');
    expect(rows).toEqual([{ name: 'wide_labels', labels, sample_count: '1', value_sum: 3 }]);
    expect(await readTopic(ctx.kafkajs, ctx.config.kafka.topics.dlq)).toEqual([]);
  });
});

function alerterOf(runtime: Runtime): Alerter {
  return (runtime.roles.find((r) => r.name === 'alerter') as unknown as { alerter: Alerter }).alerter;
}

describe('aggregation groups keyed by huge label values', () => {
  let ctx: TestContext;
  let gateway: Runtime;

  beforeAll(async () => {
    ctx = await createTestContext({ ALERTER_TICK_MS: '200', ALERTER_SESSION_TIMEOUT_MS: '6000' });
    gateway = await ctx.start('gateway');
  });
  afterAll(() => ctx?.cleanup());

  it('two alerter members exchange partials of a `sum by` group whose key is 4 KB of label values', async () => {
    const a = await ctx.start('alerter');
    const res = await a.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/alerts',
      headers: { authorization: `Bearer ${ctx.token('moderator')}` },
      payload: { name: 'wide sum', query: 'sum by (a, b, c, d) (wide_gauge) > 17' },
    });
    expect(res.statusCode).toBe(201);
    const ruleId = res.json().data.id as string;
    const b = await ctx.start('alerter');
    await waitFor(
      async () => {
        const [x, y] = [alerterOf(a), alerterOf(b)];
        return (
          x.partitionCount > 0 &&
          y.partitionCount > 0 &&
          x.partitionCount + y.partitionCount === 6 &&
          x.caughtUp &&
          y.caughtUp
        );
      },
      (ok) => ok,
      30_000,
    );

    const labels = { a: noise(1024), b: noise(1024), c: noise(1024), d: noise(1024) };
    for (const host of ['h1', 'h2', 'h3', 'h4']) {
      const posted = await gateway.app.inject({
        method: 'POST',
        url: '/api/v1/monitoring/metrics',
        headers: { authorization: `Bearer ${ctx.token('user')}` },
        payload: { name: 'wide_gauge', metric_type: 'gauge', value: 5, labels: { ...labels, host } },
      });
      expect(posted.statusCode).toBe(202);
    }
    // 4 × 5 = 20 > 17 only once every series is in the sum, from the partials of both members' partitions (3 × 5
    // = 15 stays below: the stored value of a firing instance is refreshed only every few seconds).
    const firing = await waitFor(
      async () =>
        (
          await ctx.db.query<{ state: string; value: number; labels: Record<string, string> }>(
            'SELECT state, value, labels FROM alert_instances WHERE rule_id = $1',
            [ruleId],
          )
        ).rows,
      (rows) => rows.length === 1 && rows[0].state === 'firing' && rows[0].value === 20,
      30_000,
    );
    expect(firing[0].labels).toEqual(labels);
    expect(
      await countRows(ctx.db, 'SELECT count(*) AS n FROM alert_partials WHERE rule_id = $1', [ruleId]),
    ).toBeGreaterThan(0);
    await b.stop();
    await a.stop();
  });
});
