/**
 * GET /api/v1/monitoring/events/{id}. The id is not the partition key, so a bare `WHERE id = $1` probes the id
 * index of every partition. Ids the gateway assigns are UUIDv7, whose first 48 bits are the arrival time in ms,
 * and an event's timestamp is almost always within a few minutes before its arrival: the first lookup is bounded
 * to [id time − 1 h, id time + ingest grace], which prunes to the one or two partitions covering it, and answers
 * when the id is not a producer-chosen one still claimed in ingest_ids (then it is unique). Otherwise (a
 * producer-chosen id, a backfilled timestamp, a v4 id, or no such event) the unbounded lookup runs.
 *
 * Which row when an id repeats: the one stored first (created_at). Within the idempotency window a producer-chosen
 * id is stored once per kind (services/writer/given-ids.ts), so a second row with the same id can only come from
 * a producer copying an id that was already stored (generated, or claimed before the window): the first one
 * stays the answer, and a later producer cannot shadow another's event.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../../shared/db/pool.ts';
import { VigilError } from '../../shared/errors.ts';
import { EVENT_COLUMNS, eventToJson, type EventRow } from './events.ts';
import { uuidSchema } from '../../shared/schemas/primitives.ts';
import { errorResponses, eventSchema, routeSchema } from './openapi-schemas.ts';
import { QueryParams } from './params.ts';
import { run } from './sql.ts';

import { uuidV7Millis } from '../../shared/schemas/uuid7.ts';

import { HTTP_STATUS } from '../../shared/http/status.ts';
export { uuidV7Millis };

const LOOK_BEHIND_MS = 3_600_000;

export interface EventLookup {
  sql: string;
  values: unknown[];
  /** The row answers only when no producer-chosen claim of the id exists (the `claimed` column). */
  unlessClaimed: boolean;
}

export function findEventSql(id: string, futureGraceMs: number): EventLookup[] {
  const lookups: EventLookup[] = [];
  const millis = uuidV7Millis(id);
  if (millis !== null) {
    lookups.push({
      sql: `SELECT ${EVENT_COLUMNS}, EXISTS (SELECT 1 FROM ingest_ids WHERE kind = 'event' AND id = $1) AS claimed
              FROM events WHERE id = $1 AND "timestamp" >= $2 AND "timestamp" <= $3
             ORDER BY created_at, "timestamp" LIMIT 1`,
      values: [id, new Date(millis - LOOK_BEHIND_MS), new Date(millis + futureGraceMs)],
      unlessClaimed: true,
    });
  }
  lookups.push({
    sql: `SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1 ORDER BY created_at, "timestamp" LIMIT 1`,
    values: [id],
    unlessClaimed: false,
  });
  return lookups;
}

export function eventByIdRoutes(pool: Pool, futureGraceMs: number): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/api/v1/monitoring/events/:id',
      routeSchema({
        summary: 'One event by id',
        tags: ['events'],
        params: { type: 'object', required: ['id'], properties: { id: uuidSchema } },
        response: {
          200: {
            type: 'object',
            required: ['success', 'data'],
            properties: { success: { const: true }, data: eventSchema },
          },
          ...errorResponses(HTTP_STATUS.BAD_REQUEST, HTTP_STATUS.UNAUTHORIZED, HTTP_STATUS.NOT_FOUND),
        },
      }),
      async (request) => {
        const params = new QueryParams(request.params as Record<string, unknown>);
        const id = params.uuid('id');
        params.done();
        for (const lookup of findEventSql(id!, futureGraceMs)) {
          const rows = await run<EventRow & { claimed?: boolean }>(pool, lookup.sql, lookup.values);
          const answers = rows.length > 0 && !(lookup.unlessClaimed && rows[0].claimed);
          if (answers) return { success: true, data: eventToJson(rows[0]) };
        }
        throw new VigilError('VIGIL_ERR_NOT_FOUND', `no event with id ${id}`);
      },
    );
  };
}
