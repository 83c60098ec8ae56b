/**
 * GET /api/v1/monitoring/stats (moderator+): exactly the six statistics (docs/contract.md). Event and metric
 * counts come from counters the writer moves in the same transaction as the rows, so they agree with what was
 * stored and never need count(*) over the raw tables: all-time totals from the per-day, per-partition totals
 * (infra/migrations/0009, a few rows a day), "last hour" from the per-minute rollups (0002) of the current minute
 * and the 59 before it (the rollups' resolution; an index range of the last hour's rows only). Alert and incident
 * counts: alert-counts.ts.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../../shared/db/pool.ts';
import { activeAlertCount, openIncidentCount } from './alert-counts.ts';
import { countSchema, errorResponses, routeSchema, successSchema } from './openapi-schemas.ts';
import { run } from './sql.ts';

import { HTTP_STATUS } from '../../shared/http/status.ts';

const MINUTES_PER_HOUR = 60;

export interface Stats {
  total_events: number;
  total_metrics: number;
  active_alerts: number;
  open_incidents: number;
  events_last_hour: number;
  metrics_last_hour: number;
}

const MINUTE_MS = 60_000;

/** The first minute bucket of "the last hour" at `nowMs`. */
export function lastHourStart(nowMs: number): Date {
  return new Date(Math.floor(nowMs / MINUTE_MS) * MINUTE_MS - (MINUTES_PER_HOUR - 1) * MINUTE_MS);
}

export const ROLLUP_TOTALS_SQL = `
  SELECT (SELECT coalesce(sum(count), 0) FROM ingest_totals WHERE kind = 'event')::int8 AS total_events,
         (SELECT coalesce(sum(count), 0) FROM ingest_totals WHERE kind = 'metric')::int8 AS total_metrics,
         coalesce(sum(count) FILTER (WHERE kind = 'event'), 0)::int8 AS events_last_hour,
         coalesce(sum(count) FILTER (WHERE kind = 'metric'), 0)::int8 AS metrics_last_hour
    FROM rollups
   WHERE bucket >= $1 AND bucket <= $2`;

export async function readStats(pool: Pool, nowMs = Date.now()): Promise<Stats> {
  const [rollups, activeAlerts, openIncidents] = await Promise.all([
    run<Record<'total_events' | 'total_metrics' | 'events_last_hour' | 'metrics_last_hour', string>>(
      pool,
      ROLLUP_TOTALS_SQL,
      [lastHourStart(nowMs), new Date(nowMs)],
    ),
    activeAlertCount(pool),
    openIncidentCount(pool),
  ]);
  const row = rollups[0];
  return {
    total_events: Number(row.total_events),
    total_metrics: Number(row.total_metrics),
    active_alerts: activeAlerts,
    open_incidents: openIncidents,
    events_last_hour: Number(row.events_last_hour),
    metrics_last_hour: Number(row.metrics_last_hour),
  };
}

const count = countSchema;

export function statsRoutes(pool: Pool): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/api/v1/monitoring/stats',
      routeSchema({
        summary: 'System statistics (moderator+)',
        description:
          "Counts from the writer's counters (per-day totals, per-minute rollups); `*_last_hour` covers the current " +
          'minute and the 59 before it.',
        tags: ['stats'],
        response: {
          200: successSchema({
            type: 'object',
            required: [
              'total_events',
              'total_metrics',
              'active_alerts',
              'open_incidents',
              'events_last_hour',
              'metrics_last_hour',
            ],
            properties: {
              total_events: count,
              total_metrics: count,
              active_alerts: count,
              open_incidents: count,
              events_last_hour: count,
              metrics_last_hour: count,
            },
          }),
          ...errorResponses(HTTP_STATUS.UNAUTHORIZED, HTTP_STATUS.FORBIDDEN),
        },
      }),
      async () => ({ success: true, data: await readStats(pool) }),
    );
  };
}
