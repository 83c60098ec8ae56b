/**
 * GET /api/v1/monitoring/audit (admin): the audit log (table audit_log, written by shared/audit/audit-log.ts),
 * newest first, filtered by action, actor and time range, paged with limit/offset (has_more). Each filter has
 * its index (at, action+at, actor+at), and offset is capped like the other listings.
 */
import type { FastifyPluginAsync } from 'fastify';
import { AUDIT_ACTIONS } from '../../shared/audit/plugin.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { isoTimeSchema } from '../../shared/schemas/primitives.ts';
import { errorResponses, routeSchema, strictQuery } from './openapi-schemas.ts';
import { QueryParams } from './params.ts';
import { run, Where } from './sql.ts';
import { HTTP_STATUS } from '../../shared/http/status.ts';

const ACTOR_MAX_CHARS = 512;

const MAX_LIMIT = 1000;
const MAX_OFFSET = 10_000;

interface AuditRow {
  id: string;
  at: Date;
  last_at: Date;
  action: string;
  actor: string | null;
  role: string | null;
  ip: string | null;
  target: string | null;
  count: number;
  details: Record<string, unknown>;
}

const entrySchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    at: { type: 'string', format: 'date-time', description: 'When it happened (the first of a counted group).' },
    last_at: { type: 'string', format: 'date-time', description: 'The last of a counted group (= at for one action).' },
    action: { type: 'string', enum: [...AUDIT_ACTIONS] },
    actor: { type: ['string', 'null'], description: "The token's sub; null when no valid token was given." },
    role: { type: ['string', 'null'] },
    ip: { type: ['string', 'null'], description: 'Client address; "*" for a row folding many addresses.' },
    target: { type: ['string', 'null'], description: 'The rule or incident id, or the refused route.' },
    count: { type: 'integer', description: 'How many times (refused requests are counted per flush interval).' },
    details: { type: 'object' },
  },
};

export function auditRoutes(pool: Pool): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/api/v1/monitoring/audit',
      routeSchema({
        summary: 'The audit log, newest first (admin)',
        description:
          'Alert rule and incident changes, 401 token failures (by address) and 403 role denials (by subject). ' +
          'Filters: action, actor, start_time, end_time (on `at`); limit (≤ 1000), offset (≤ 10000).',
        tags: ['audit'],
        querystring: strictQuery({
          action: { type: 'string', enum: [...AUDIT_ACTIONS] },
          actor: { type: 'string', minLength: 1, maxLength: 512 },
          start_time: isoTimeSchema,
          end_time: isoTimeSchema,
          limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: 100 },
          offset: { type: 'integer', minimum: 0, maximum: MAX_OFFSET, default: 0 },
        }),
        response: {
          200: {
            type: 'object',
            properties: {
              success: { const: true },
              data: { type: 'array', items: entrySchema },
              limit: { type: 'integer' },
              offset: { type: 'integer' },
              has_more: { type: 'boolean' },
            },
          },
          ...errorResponses(HTTP_STATUS.BAD_REQUEST, HTTP_STATUS.UNAUTHORIZED),
        },
      }),
      async (request) => {
        const params = new QueryParams(request.query as Record<string, unknown>);
        const action = params.oneOf('action', AUDIT_ACTIONS);
        const actor = params.string('actor', ACTOR_MAX_CHARS);
        const start = params.time('start_time');
        const end = params.time('end_time');
        const limit = params.int('limit', { min: 1, max: MAX_LIMIT, default: 100 });
        const offset = params.int('offset', { min: 0, max: MAX_OFFSET, default: 0 });
        if (start && end && end < start) params.fail('end_time', 'must not be before start_time');
        params.done();

        const where = new Where();
        if (action) where.add('action = ?', action);
        if (actor) where.add('actor = ?', actor);
        if (start) where.add('at >= ?', start);
        if (end) where.add('at <= ?', end);
        const rows = await run<AuditRow>(
          pool,
          `SELECT id, at, last_at, action, actor, role, ip, target, count, details FROM audit_log ${where}
            ORDER BY at DESC, id DESC LIMIT ${where.param(limit + 1)} OFFSET ${where.param(offset)}`,
          where.values,
        );
        const data = rows.slice(0, limit).map(auditToJson);
        return { success: true, data, limit, offset, has_more: rows.length > limit };
      },
    );
  };
}

function auditToJson(row: AuditRow) {
  return {
    id: Number(row.id),
    at: row.at.toISOString(),
    last_at: row.last_at.toISOString(),
    action: row.action,
    actor: row.actor,
    role: row.role,
    ip: row.ip,
    target: row.target,
    count: row.count,
    details: row.details,
  };
}
