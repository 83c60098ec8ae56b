/**
 * Traces read back (spans arrive as `trace` events through OTLP, services/gateway/otlp/traces.ts):
 *   GET /api/v1/monitoring/traces/{trace_id}  the trace's spans as a tree with durations, and its logs (every other
 *        row carrying tags.trace_id); optional start_time/end_time narrow the partitions probed. 404 when none.
 *   GET /api/v1/monitoring/traces             recent traces, newest first: one entry per root span (a span without
 *        parent) in [start_time, end_time] (default the last hour), filtered by `service` (the root's source),
 *        `min_duration` (the root's duration: `250ms`, `2s`), `error=true` (a span or log of the trace at level
 *        error or fatal); with each trace's span count, error count and services.
 * Plans: a trace's rows come from events_trace_id_idx (migration 0016; one probe per partition, ordered by time),
 * the listing walks events_trace_roots_idx newest first and stops at the limit. A trace's answer is bounded at
 * MAX_TRACE_ROWS rows (`truncated: true` beyond), the statistics of a listed trace at MAX_TRACE_ROWS too.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../../shared/db/pool.ts';
import { VigilError } from '../../shared/errors.ts';
import { EVENT_COLUMNS, type EventRow } from './events.ts';
import { durationSchema, isoTimeSchema, traceIdSchema } from '../../shared/schemas/primitives.ts';
import { errorResponses, routeSchema, strictQuery } from './openapi-schemas.ts';
import { QueryParams } from './params.ts';
import { run, Where } from './sql.ts';
import { buildTrace } from './traces-tree.ts';

import { HTTP_STATUS } from '../../shared/http/status.ts';

const TRACE_ID_MAX_CHARS = 64;

export const MAX_TRACE_ROWS = 10_000;
export const MAX_TRACES = 100;
const DEFAULT_RANGE_MS = 3_600_000;
const TRACE_ID = /^[0-9a-f]{32}$/;
/** How far from its root's start the statistics of a listed trace look for its rows (bounds the partitions). */
const SPAN_WINDOW_BEFORE = '1 hour';
const SPAN_WINDOW_AFTER = '1 day';

export interface TraceListFilters {
  start: Date;
  end: Date;
  service?: string;
  minDurationMs?: number;
  errorOnly: boolean;
  limit: number;
}

/** The statement of one trace's rows; exported for the plan test. */
export function traceRowsSql(traceId: string, range: { start?: Date; end?: Date }): { sql: string; values: unknown[] } {
  const where = new Where().add(`(tags ->> 'trace_id') = ?::text`, traceId);
  if (range.start) where.add('"timestamp" >= ?', range.start);
  if (range.end) where.add('"timestamp" <= ?', range.end);
  return {
    sql: `SELECT ${EVENT_COLUMNS} FROM events ${where}
           ORDER BY "timestamp", id LIMIT ${where.param(MAX_TRACE_ROWS + 1)}`,
    values: where.values,
  };
}

/** The statement of the trace listing; exported for the plan test. */
export function listTracesSql(filters: TraceListFilters): { sql: string; values: unknown[] } {
  const where = new Where()
    .add(`r.event_type = 'trace'`)
    .add(`(r.tags ->> 'parent_span_id') IS NULL`)
    .add('r."timestamp" >= ?', filters.start)
    .add('r."timestamp" <= ?', filters.end);
  if (filters.service) where.add('r.source = ?', filters.service);
  if (filters.minDurationMs !== undefined)
    where.add(`(r.payload ->> 'duration_ms')::float8 >= ?::float8`, filters.minDurationMs);
  const sameTrace = `(e.tags ->> 'trace_id') = (r.tags ->> 'trace_id')
                 AND e."timestamp" >= r."timestamp" - interval '${SPAN_WINDOW_BEFORE}'
                 AND e."timestamp" <= r."timestamp" + interval '${SPAN_WINDOW_AFTER}'`;
  if (filters.errorOnly)
    where.add(`EXISTS (SELECT 1 FROM events e WHERE ${sameTrace} AND e.level IN ('error', 'fatal'))`);
  const sql = `SELECT r.tags ->> 'trace_id' AS trace_id, r.source, r.message, r.level, r."timestamp", r.payload,
                      s.span_count, s.error_count, s.services
                 FROM events r
                 CROSS JOIN LATERAL (
                   SELECT count(*) FILTER (WHERE e.event_type = 'trace')::int AS span_count,
                          count(*) FILTER (WHERE e.level IN ('error', 'fatal'))::int AS error_count,
                          array_agg(DISTINCT e.source ORDER BY e.source) AS services
                     FROM (SELECT e.event_type, e.level, e.source FROM events e
                            WHERE ${sameTrace} LIMIT ${MAX_TRACE_ROWS}) e
                 ) s
                ${where}
                ORDER BY r."timestamp" DESC
                LIMIT ${where.param(filters.limit)}`;
  return { sql, values: where.values };
}

interface ListRow {
  trace_id: string;
  source: string;
  message: string | null;
  level: string | null;
  timestamp: Date;
  payload: Record<string, unknown>;
  span_count: number;
  error_count: number;
  services: string[];
}

const traceSummarySchema = {
  type: 'object',
  properties: {
    trace_id: { type: 'string' },
    root_service: { type: 'string' },
    root_name: { type: 'string', nullable: true },
    start_time: { type: 'string', format: 'date-time' },
    duration_ms: { type: 'number', nullable: true },
    status: { type: 'string' },
    span_count: { type: 'integer' },
    error_count: { type: 'integer' },
    services: { type: 'array', items: { type: 'string' } },
  },
};

export function traceRoutes(pool: Pool): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/api/v1/monitoring/traces',
      routeSchema({
        summary: 'Recent traces (one per root span), newest first',
        tags: ['traces'],
        querystring: strictQuery({
          service: {
            type: 'string',
            minLength: 1,
            maxLength: 255,
            description: "The root span's service (event source).",
          },
          min_duration: {
            ...durationSchema,
            description: 'The root span lasted at least this long (250ms, 2s, 1m), at most 1d.',
          },
          error: {
            type: 'string',
            enum: ['true', 'false'],
            description: 'true: only traces with a span or log at level error or fatal.',
          },
          start_time: isoTimeSchema,
          end_time: isoTimeSchema,
          limit: { type: 'integer', minimum: 1, maximum: MAX_TRACES, default: 20 },
        }),
        response: {
          200: {
            type: 'object',
            properties: { success: { type: 'boolean' }, data: { type: 'array', items: traceSummarySchema } },
          },
          ...errorResponses(HTTP_STATUS.BAD_REQUEST, HTTP_STATUS.UNAUTHORIZED),
        },
      }),
      async (request) => {
        const params = new QueryParams(request.query as Record<string, unknown>);
        const end = params.time('end_time') ?? new Date();
        const start = params.time('start_time') ?? new Date(end.getTime() - DEFAULT_RANGE_MS);
        const filters: TraceListFilters = {
          start,
          end,
          service: params.string('service'),
          minDurationMs: params.duration('min_duration', { minMs: 0, maxMs: 86_400_000 }),
          errorOnly: params.oneOf('error', ['true', 'false'] as const) === 'true',
          limit: params.int('limit', { min: 1, max: MAX_TRACES, default: 20 }),
        };
        if (end < start) params.fail('end_time', 'must not be before start_time');
        params.done();
        const { sql, values } = listTracesSql(filters);
        const rows = await run<ListRow>(pool, sql, values);
        return { success: true, data: rows.map(summaryOf) };
      },
    );

    app.get(
      '/api/v1/monitoring/traces/:trace_id',
      routeSchema({
        summary: 'One trace: its spans as a tree with durations, and its logs',
        tags: ['traces'],
        params: {
          type: 'object',
          required: ['trace_id'],
          properties: { trace_id: traceIdSchema },
        },
        querystring: strictQuery({ start_time: isoTimeSchema, end_time: isoTimeSchema }),
        response: {
          200: { type: 'object', properties: { success: { type: 'boolean' }, data: { type: 'object' } } },
          ...errorResponses(HTTP_STATUS.BAD_REQUEST, HTTP_STATUS.UNAUTHORIZED, HTTP_STATUS.NOT_FOUND),
        },
      }),
      async (request) => {
        const path = new QueryParams(request.params as Record<string, unknown>);
        const raw = path.string('trace_id', TRACE_ID_MAX_CHARS);
        const traceId = raw?.toLowerCase();
        if (traceId !== undefined && !TRACE_ID.test(traceId))
          path.fail('trace_id', 'must be 32 hex digits (a W3C / OTLP trace id)');
        path.done();
        const params = new QueryParams(request.query as Record<string, unknown>);
        const range = { start: params.time('start_time'), end: params.time('end_time') };
        params.done();
        const { sql, values } = traceRowsSql(traceId!, range);
        const rows = await run<EventRow>(pool, sql, values);
        if (rows.length === 0)
          throw new VigilError('VIGIL_ERR_NOT_FOUND', `no stored span or log carries trace_id ${traceId}`);
        const truncated = rows.length > MAX_TRACE_ROWS;
        return {
          success: true,
          data: { ...buildTrace(traceId!, truncated ? rows.slice(0, MAX_TRACE_ROWS) : rows), truncated },
        };
      },
    );
  };
}

function summaryOf(row: ListRow) {
  const status = row.payload.status as { code?: unknown } | undefined;
  return {
    trace_id: row.trace_id,
    root_service: row.source,
    root_name: row.message,
    start_time: row.timestamp.toISOString(),
    duration_ms: typeof row.payload.duration_ms === 'number' ? row.payload.duration_ms : null,
    status: typeof status?.code === 'string' ? status.code : 'unset',
    span_count: row.span_count,
    error_count: row.error_count,
    services: row.services ?? [],
  };
}
