/**
 * GET /api/v1/monitoring/events — the seed's filters, newest first. Every filter is a bound parameter; the
 * ORDER BY matches the (timestamp, id) primary key of each partition so the newest rows come straight off the index.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../../shared/db/pool.ts';
import { databaseError } from '../../shared/db/pool.ts';
import { EVENT_TYPES, LEVELS } from '../../shared/schemas/event.ts';
import { QueryParams } from './params.ts';

const PARAMS = ['event_type', 'source', 'level', 'start_time', 'end_time', 'limit', 'offset'] as const;
export const MAX_LIMIT = 1000;
export const MAX_OFFSET = 10_000;

interface EventRow {
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

export function eventRoutes(pool: Pool): FastifyPluginAsync {
  return async (app) => {
    app.get('/api/v1/monitoring/events', async (request) => {
      const params = new QueryParams(request.query as Record<string, unknown>, PARAMS);
      const eventType = params.oneOf('event_type', EVENT_TYPES);
      const source = params.string('source');
      const level = params.oneOf('level', LEVELS);
      const start = params.time('start_time');
      const end = params.time('end_time');
      const limit = params.int('limit', { min: 1, max: MAX_LIMIT, default: 100 });
      const offset = params.int('offset', { min: 0, max: MAX_OFFSET, default: 0 });
      if (start && end && end < start) params.fail('end_time', 'must not be before start_time');
      params.done();

      const where: string[] = [];
      const values: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        values.push(value);
        where.push(sql.replace('?', `$${values.length}`));
      };
      if (eventType) add('event_type = ?', eventType);
      if (source) add('source = ?', source);
      if (level) add('level = ?', level);
      if (start) add('"timestamp" >= ?', start);
      if (end) add('"timestamp" <= ?', end);
      values.push(limit, offset);
      const sql = `SELECT id, "timestamp", event_type, source, level, message, tags, payload, created_by, created_at
                     FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                    ORDER BY "timestamp" DESC, id DESC
                    LIMIT $${values.length - 1} OFFSET $${values.length}`;
      try {
        const { rows } = await pool.query<EventRow>(sql, values);
        return { success: true, data: rows.map(toJson) };
      } catch (error) {
        throw databaseError(error);
      }
    });
  };
}

function toJson(row: EventRow) {
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
