/**
 * GET /api/v1/monitoring/events/{id}. The id is not the partition key, so a bare `WHERE id = $1` probes the id
 * index of every partition. Ids the gateway assigns are UUIDv7, whose first 48 bits are the arrival time in ms,
 * and an event's timestamp is almost always within a few minutes before its arrival: the first lookup is bounded
 * to [id time − 1 h, id time + ingest grace], which prunes to the one or two partitions covering it. Only when that
 * misses (a backfilled timestamp, a client-chosen v4 id, or no such event) does the unbounded lookup run.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../../shared/db/pool.ts';
import { VigilError } from '../../shared/errors.ts';
import { EVENT_COLUMNS, eventToJson, type EventRow } from './events.ts';
import { docsOnly, errorResponses, eventSchema } from './openapi-schemas.ts';
import { QueryParams } from './params.ts';
import { run } from './sql.ts';

const LOOK_BEHIND_MS = 3_600_000;

/** The creation time embedded in a UUIDv7, or null for other versions. */
export function uuidV7Millis(id: string): number | null {
  if (id[14] !== '7') return null;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

export function findEventSql(id: string, futureGraceMs: number): { sql: string; values: unknown[] }[] {
  const lookups: { sql: string; values: unknown[] }[] = [];
  const millis = uuidV7Millis(id);
  if (millis !== null) {
    lookups.push({
      sql: `SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1 AND "timestamp" >= $2 AND "timestamp" <= $3`,
      values: [id, new Date(millis - LOOK_BEHIND_MS), new Date(millis + futureGraceMs)],
    });
  }
  lookups.push({ sql: `SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1 LIMIT 1`, values: [id] });
  return lookups;
}

export function eventByIdRoutes(pool: Pool, futureGraceMs: number): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/api/v1/monitoring/events/:id',
      docsOnly({
        summary: 'One event by id',
        tags: ['events'],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
        response: {
          200: { type: 'object', required: ['success', 'data'], properties: { success: { const: true }, data: eventSchema } },
          ...errorResponses(400, 401, 404),
        },
      }),
      async (request) => {
        const params = new QueryParams(request.params as Record<string, unknown>, ['id']);
        const id = params.uuid('id');
        params.done();
        for (const lookup of findEventSql(id!, futureGraceMs)) {
          const rows = await run<EventRow>(pool, lookup.sql, lookup.values);
          if (rows.length > 0) return { success: true, data: eventToJson(rows[0]) };
        }
        throw new VigilError('VIGIL_ERR_NOT_FOUND', `no event with id ${id}`);
      },
    );
  };
}
