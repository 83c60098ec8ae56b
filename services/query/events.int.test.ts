/**
 * GET /events and GET /events/{id} against a real PostgreSQL: every filter, keyset pagination under concurrent
 * inserts, lookups by id (UUIDv7 in and out of its time window, v4, unknown), and 400s naming the parameter.
 */
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertEvents } from '../../test/helpers/rows.ts';

describe('GET /api/v1/monitoring/events', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  const T = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;
  let ids: Record<string, string>;

  const get = async (query: string) => {
    const res = await api.app.inject({
      method: 'GET',
      url: `/api/v1/monitoring/events?${query}`,
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.statusCode, body: res.json() };
  };
  const idsOf = async (query: string) => {
    const { status, body } = await get(query);
    expect(status, JSON.stringify(body)).toBe(200);
    return body.data.map((e: { id: string }) => e.id);
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query');
    token = ctx.token('user');
    const stored = await insertEvents(ctx.db, [
      {
        timestamp: T + 1000,
        source: 'api',
        level: 'info',
        message: 'GET /users completed',
        tags: { service: 'api', env: 'prod' },
      },
      {
        timestamp: T + 2000,
        source: 'api',
        level: 'error',
        message: 'Connection POOL exhausted',
        tags: { service: 'api', env: 'staging' },
      },
      {
        timestamp: T + 3000,
        event_type: 'trace',
        source: 'db',
        level: null,
        message: 'query 100% done_ok',
        tags: { service: 'db', status: 500 },
      },
      {
        timestamp: T + 4000,
        event_type: 'alert',
        source: 'web',
        level: 'warn',
        message: null,
        tags: { service: 'web', env: 'prod', 'odd key': 'a"b' },
      },
    ]);
    ids = { info: stored[0].id, error: stored[1].id, trace: stored[2].id, alert: stored[3].id };
  });
  afterAll(() => ctx?.cleanup());

  it("filters by tags (AND), by message substring, and by the contract's filters, newest first", async () => {
    expect(await idsOf('')).toEqual([ids.alert, ids.trace, ids.error, ids.info]);
    expect(await idsOf('tag.service=api')).toEqual([ids.error, ids.info]);
    expect(await idsOf('tag.service=api&tag.env=prod')).toEqual([ids.info]);
    expect(await idsOf('tag.env=prod')).toEqual([ids.alert, ids.info]);
    expect(await idsOf('tag.status=500')).toEqual([ids.trace]); // a numeric tag matches its text
    expect(await idsOf(`tag.${encodeURIComponent('odd key')}=${encodeURIComponent('a"b')}`)).toEqual([ids.alert]);
    expect(await idsOf('tag.service=nope')).toEqual([]);
    const since = `start_time=${encodeURIComponent(new Date(T - 60_000).toISOString())}`;
    expect(await idsOf(`message_contains=pool&${since}`)).toEqual([ids.error]); // case-insensitive
    expect(await idsOf(`message_contains=100%25&${since}`)).toEqual([ids.trace]); // % and _ are literal
    expect(await idsOf(`message_contains=%25&${since}`)).toEqual([ids.trace]);
    expect(await idsOf(`message_contains=e_o&${since}`)).toEqual([ids.trace]);
    expect(
      await idsOf(`message_contains=completed&tag.service=api&source=api&level=info&event_type=log&${since}`),
    ).toEqual([ids.info]);
    expect(await idsOf('event_type=alert')).toEqual([ids.alert]);
    expect(await idsOf('source=db')).toEqual([ids.trace]);
    expect(await idsOf('level=error')).toEqual([ids.error]);
    const at = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
    expect(await idsOf(`start_time=${at(T + 2000)}&end_time=${at(T + 3000)}`)).toEqual([ids.trace, ids.error]);
    expect(await idsOf(`start_time=${at(T + 2000)}&end_time=${at(T + 3000)}&tag.service=db`)).toEqual([ids.trace]);
  });

  it("answers the contract's event shape with next_cursor", async () => {
    const { body } = await get('tag.service=db');
    expect(body).toEqual({
      success: true,
      data: [
        {
          id: ids.trace,
          event_type: 'trace',
          source: 'db',
          message: 'query 100% done_ok',
          level: null,
          tags: { service: 'db', status: 500 },
          payload: {},
          timestamp: new Date(T + 3000).toISOString(),
          created_by: 'test',
          created_at: expect.any(String),
        },
      ],
      next_cursor: null,
    });
  });

  it('pages with the cursor without gaps or repeats while newer events arrive, even in one microsecond', async () => {
    const base = T - 10 * 60_000;
    // 23 events: groups share a timestamp (ties broken by id), two differ by one microsecond only.
    const seeded = await insertEvents(ctx.db, [
      ...Array.from({ length: 21 }, (_, i) => ({
        timestamp: base + Math.floor(i / 4) * 1000,
        source: 'pager',
        tags: { run: 'p' },
      })),
      {
        timestamp: new Date(base + 9000)
          .toISOString()
          .replace('Z', '')
          .replace(/\.(\d{3})$/, '.$1123Z'),
        source: 'pager',
        tags: { run: 'p' },
      },
      {
        timestamp: new Date(base + 9000)
          .toISOString()
          .replace('Z', '')
          .replace(/\.(\d{3})$/, '.$1124Z'),
        source: 'pager',
        tags: { run: 'p' },
      },
    ]);
    const { rows } = await ctx.db.query<{ id: string }>(
      `SELECT id FROM events WHERE source = 'pager' ORDER BY "timestamp" DESC, id DESC`,
    );
    const expected = rows.map((r) => r.id);
    expect(expected).toHaveLength(seeded.length);

    const seen: string[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const { status, body } = await get(`source=pager&tag.run=p&limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status, JSON.stringify(body)).toBe(200);
      seen.push(...body.data.map((e: { id: string }) => e.id));
      cursor = body.next_cursor;
      // Newer events keep arriving between pages: they must not shift the pages already being read.
      await insertEvents(ctx.db, [{ timestamp: base + 60_000 + page * 1000, source: 'pager', tags: { run: 'p' } }]);
      page++;
    } while (cursor);
    expect(seen).toEqual(expected);
    expect(page).toBe(5); // 23 rows in pages of 5, the last one short (no empty extra page)

    // OFFSET pages, by contrast, repeat rows once newer ones arrive.
    const first = await idsOf('source=pager&limit=5');
    await insertEvents(ctx.db, [{ timestamp: base + 120_000, source: 'pager' }]);
    const second = await idsOf('source=pager&limit=5&offset=5');
    expect(second.filter((id: string) => first.includes(id))).toHaveLength(1);
  });

  it('bounds message_contains in time: start_time is required and the range spans at most 24 h', async () => {
    const at = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
    expect(await get('message_contains=pool')).toEqual({
      status: 400,
      body: {
        success: false,
        error: {
          code: 'VIGIL_ERR_VALIDATION',
          message: 'start_time: is required with message_contains',
          details: [{ field: 'start_time', message: 'is required with message_contains' }],
        },
      },
    });
    const tooLong =
      'with message_contains the range may span at most 24 h (QUERY_MESSAGE_SEARCH_MAX_HOURS): move start_time later ' +
      'or set end_time';
    expect(await get(`message_contains=pool&start_time=${at(T - 25 * 3_600_000)}`)).toEqual({
      status: 400,
      body: {
        success: false,
        error: {
          code: 'VIGIL_ERR_VALIDATION',
          message: `start_time: ${tooLong}`,
          details: [{ field: 'start_time', message: tooLong }],
        },
      },
    });
    expect(
      await get(`message_contains=pool&start_time=${at(T - 30 * 3_600_000)}&end_time=${at(T - 5 * 3_600_000)}`),
    ).toMatchObject({ status: 400 });
    // Within 24 h, with an explicit end: answered.
    expect(
      await idsOf(`message_contains=pool&start_time=${at(T - 20 * 3_600_000)}&end_time=${at(T + 3_600_000)}`),
    ).toEqual([ids.error]);
  });

  it('refuses bad parameters with 400 naming each one', async () => {
    const cases: [string, string, RegExp][] = [
      ['event_type=bogus', 'event_type', /must be one of log, metric, trace, alert/],
      ['level=loud', 'level', /must be one of trace, debug, info, warn, error, fatal/],
      ['start_time=yesterday', 'start_time', /ISO 8601/],
      ['end_time=2024-01-01', 'end_time', /ISO 8601/],
      ['start_time=2024-01-02T00:00:00Z&end_time=2024-01-01T00:00:00Z', 'end_time', /must not be before start_time/],
      ['limit=0', 'limit', /from 1 to 1000/],
      ['limit=1001', 'limit', /from 1 to 1000/],
      ['offset=10001', 'offset', /from 0 to 10000/],
      ['cursor=not-a-cursor', 'cursor', /is not a cursor this API issued/],
      ['sorce=api', 'sorce', /is not a known parameter/],
      ['tag.=x', 'tag.', /must name a key/],
      ['source=a&source=b', 'source', /must be given once/],
    ];
    for (const [query, field, message] of cases) {
      const { status, body } = await get(query);
      expect(status, query).toBe(400);
      expect(body.error.code).toBe('VIGIL_ERR_VALIDATION');
      expect(body.error.details, query).toEqual([{ field, message: expect.stringMatching(message) }]);
    }
    const page = await get('source=pager&limit=2');
    const other = await get(`source=api&cursor=${page.body.next_cursor}`);
    expect(other.status).toBe(400);
    expect(other.body.error.details).toEqual([{ field: 'cursor', message: expect.stringMatching(/other filters/) }]);
    const both = await get(`source=pager&limit=2&offset=2&cursor=${page.body.next_cursor}`);
    expect(both.status).toBe(400);
    expect(both.body.error.details).toEqual([
      { field: 'offset', message: expect.stringMatching(/cannot be combined with cursor/) },
    ]);
  });

  describe('GET /events/{id}', () => {
    const byId = async (id: string) => {
      const res = await api.app.inject({
        method: 'GET',
        url: `/api/v1/monitoring/events/${id}`,
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: res.statusCode, body: res.json() };
    };

    it('finds events by id whatever their timestamp, 404 for unknown ids, 400 for malformed ones', async () => {
      const backfilled = uuidv7(); // assigned now, for an event that happened two days ago
      const v4 = uuidv4();
      await insertEvents(ctx.db, [
        { id: backfilled, timestamp: Date.now() - 2 * 86_400_000, source: 'late', message: 'backfilled' },
        { id: v4, timestamp: T, source: 'client-id', message: 'v4' },
      ]);
      expect(await byId(ids.error)).toEqual({
        status: 200,
        body: {
          success: true,
          data: expect.objectContaining({ id: ids.error, message: 'Connection POOL exhausted', source: 'api' }),
        },
      });
      expect((await byId(backfilled)).body.data).toMatchObject({
        id: backfilled,
        source: 'late',
        message: 'backfilled',
      });
      expect((await byId(v4)).body.data).toMatchObject({ id: v4, source: 'client-id' });
      expect((await byId(v4.toUpperCase())).body.data).toMatchObject({ id: v4 });

      const unknown = uuidv7();
      expect(await byId(unknown)).toEqual({
        status: 404,
        body: { success: false, error: { code: 'VIGIL_ERR_NOT_FOUND', message: `no event with id ${unknown}` } },
      });
      const malformed = await byId('12345');
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.details).toEqual([{ field: 'id', message: 'must be a UUID, got "12345"' }]);
    });
  });
});
