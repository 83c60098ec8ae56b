/**
 * GET /api/v1/monitoring/events — newest first, with the contract's filters plus tag filters (`tag.<key>=<value>`,
 * AND-combined), a case-insensitive substring filter on the message, and keyset pagination (`cursor`).
 *
 * Plans (asserted by services/query/plans.int.test.ts): ORDER BY ("timestamp", id) DESC is the primary key of every
 * partition, so the newest rows come straight off a backward index scan merged across partitions (Merge Append)
 * and LIMIT stops it early; `source` uses the (source, timestamp) index instead; start_time/end_time and the
 * cursor's timestamp prune partitions at plan time. Tags and message are filters on the rows those scans yield
 * (no GIN/trigram index: measured, the GIN costs 1.6× ingest), so they are fast inside a time or source
 * window and scan more the rarer they match.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../../shared/db/pool.ts';
import { EVENT_TYPES, LEVELS } from '../../shared/schemas/event.ts';
import { decodeCursor, encodeCursor, filterFingerprint, microsToIso, type CursorKey } from './cursor.ts';
import {
  CURSOR_MAX_CHARS,
  errorResponses,
  eventSchema,
  listQuerySchema,
  MESSAGE_CONTAINS_MAX_CHARS,
  NAME_MAX_CHARS,
  routeSchema,
} from './openapi-schemas.ts';
import { QueryParams } from './params.ts';
import { containsPattern, run, Where, type PlannerSettings } from './sql.ts';
import { HTTP_STATUS } from '../../shared/http/status.ts';
import { MS_PER_HOUR } from '../../shared/units.ts';

export const MAX_LIMIT = 1000;
/** OFFSET reads and discards every skipped row; deeper pages use the cursor. */
export const MAX_OFFSET = 10_000;
export const MAX_TAG_FILTERS = 16;

export interface EventRow {
  id: string;
  timestamp: Date;
  event_type: string;
  source: string;
  level: string | null;
  message: string | null;
  tags: unknown;
  payload: unknown;
  created_by: string | null;
  created_at: Date;
}

export const EVENT_COLUMNS =
  'id, "timestamp", event_type, source, level, message, tags, payload, created_by, created_at';

export interface EventFilters {
  eventType?: string;
  source?: string;
  level?: string;
  start?: Date;
  end?: Date;
  messageContains?: string;
  tags: [string, string][];
}

/** The WHERE clause of a listing; exported for the plan tests, which EXPLAIN exactly what the route runs. */
export function eventFilterSql(filters: EventFilters, where = new Where()): Where {
  if (filters.eventType) where.add('event_type = ?', filters.eventType);
  if (filters.source) where.add('source = ?', filters.source);
  if (filters.level) where.add('level = ?', filters.level);
  if (filters.start) where.add('"timestamp" >= ?', filters.start);
  if (filters.end) where.add('"timestamp" <= ?', filters.end);
  if (filters.messageContains) where.add('message ILIKE ?', containsPattern(filters.messageContains));
  for (const [key, value] of filters.tags) where.add('tags ->> ?::text = ?::text', key, value);
  return where;
}

/** Newest-first pages walk an index in order instead of sorting the range: see PlannerSettings. */
export const LISTING_SETTINGS: PlannerSettings = { enable_sort: 'off' };

/** The statement of one page (rows below the cursor's key, if any); exported for the plan tests. */
export function listEventsSql(
  filters: EventFilters,
  page: { cursor?: CursorKey; limit: number; offset: number },
): { sql: string; values: unknown[] } {
  const where = eventFilterSql(filters);
  if (page.cursor) {
    const at = microsToIso(page.cursor.micros);
    // The plain comparison lets the planner prune partitions; the row comparison is the exact keyset bound.
    where.add('"timestamp" <= ?', at).add('("timestamp", id) < (?::timestamptz, ?::uuid)', at, page.cursor.id);
  }
  const sql = `SELECT ${EVENT_COLUMNS}, (extract(epoch FROM "timestamp") * 1000000)::int8 AS ts_us
                 FROM events ${where}
                ORDER BY "timestamp" DESC, id DESC
                LIMIT ${where.param(page.limit)} OFFSET ${where.param(page.offset)}`;
  return { sql, values: where.values };
}

export function eventRoutes(pool: Pool, opts: { messageSearchMaxHours: number }): FastifyPluginAsync {
  const maxSearchMs = opts.messageSearchMaxHours * MS_PER_HOUR;
  return async (app) => {
    app.get(
      '/api/v1/monitoring/events',
      routeSchema({
        summary: 'List events, newest first',
        description:
          "Filters combine with AND. `tag.<key>=<value>` matches the tag's text (`tag.status=500` matches 500 and " +
          '"500"). ' +
          'Page with `next_cursor` (keyset: stable while data arrives); `offset` is kept for the contract and capped ' +
          'at 10000.',
        tags: ['events'],
        querystring: listQuerySchema('events'),
        response: {
          200: {
            type: 'object',
            required: ['success', 'data', 'next_cursor'],
            properties: {
              success: { const: true },
              data: { type: 'array', items: eventSchema },
              next_cursor: {
                type: ['string', 'null'],
                description: 'Pass as `cursor` with the same filters for the next page; null on the last page.',
              },
            },
          },
          ...errorResponses(HTTP_STATUS.BAD_REQUEST, HTTP_STATUS.UNAUTHORIZED),
        },
      }),
      async (request) => {
        const params = new QueryParams(request.query as Record<string, unknown>);
        const filters: EventFilters = {
          eventType: params.oneOf('event_type', EVENT_TYPES),
          source: params.string('source'),
          level: params.oneOf('level', LEVELS),
          start: params.time('start_time'),
          end: params.time('end_time'),
          messageContains: params.string('message_contains', MESSAGE_CONTAINS_MAX_CHARS),
          tags: params.prefixed('tag.', { maxPairs: MAX_TAG_FILTERS, maxLength: NAME_MAX_CHARS }),
        };
        const limit = params.int('limit', { min: 1, max: MAX_LIMIT, default: 100 });
        const offset = params.int('offset', { min: 0, max: MAX_OFFSET, default: 0 });
        if (filters.start && filters.end && filters.end < filters.start)
          params.fail('end_time', 'must not be before start_time');
        // A substring has no index: it reads every message of the range that the other filters leave, so the schema
        // requires start_time with message_contains and the range is bounded here.
        if (filters.messageContains !== undefined && filters.start) {
          if ((filters.end?.getTime() ?? Date.now()) - filters.start.getTime() > maxSearchMs) {
            params.fail(
              'start_time',
              `with message_contains the range may span at most ${opts.messageSearchMaxHours} h ` +
                '(QUERY_MESSAGE_SEARCH_MAX_HOURS): move start_time later or set end_time',
            );
          }
        }
        const fingerprint = filterFingerprint(filters);
        const cursorText = params.string('cursor', CURSOR_MAX_CHARS);
        let cursor: CursorKey | undefined;
        if (cursorText !== undefined) {
          const decoded = decodeCursor(cursorText, fingerprint);
          if (decoded.ok) cursor = decoded.key;
          else params.fail('cursor', decoded.message);
          if (params.has('offset'))
            params.fail('offset', 'cannot be combined with cursor (the cursor already says where the page starts)');
        }
        params.done();

        const { sql, values } = listEventsSql(filters, { cursor, limit: limit + 1, offset });
        const rows = await run<EventRow & { ts_us: string }>(pool, sql, values, LISTING_SETTINGS);
        const more = rows.length > limit;
        const page = more ? rows.slice(0, limit) : rows;
        const last = page[page.length - 1];
        return {
          success: true,
          data: page.map(eventToJson),
          next_cursor: more ? encodeCursor({ micros: BigInt(last.ts_us), id: last.id }, fingerprint) : null,
        };
      },
    );
  };
}

export function eventToJson(row: EventRow) {
  return {
    id: row.id,
    event_type: row.event_type,
    source: row.source,
    message: row.message,
    level: row.level,
    tags: row.tags,
    payload: row.payload,
    timestamp: row.timestamp.toISOString(),
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
  };
}
