/**
 * GET /api/v1/monitoring/stats/ingest (moderator+): what was stored per minute over a bounded window — events by
 * event_type and metric samples — read from the per-minute rollups (infra/migrations/0002) that the writer moves in
 * the same transaction as the rows, never from the raw tables. A minute is the minute of the row's own timestamp
 * (as for `*_last_hour` of /stats), so late data lands in the minute it describes.
 *
 * The window names minutes: from the minute of start_time to the minute of end_time, both included; by default the
 * current minute and the 59 before it (the buckets then add up to /stats' events_last_hour). At most
 * MAX_INGEST_MINUTES buckets, so one request reads at most a day of rollup rows through their primary key.
 * Minutes without rows are answered as zeros: the answer has exactly one bucket per minute.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Pool } from '../../shared/db/pool.ts';
import { EVENT_TYPES, type EventType } from '../../shared/schemas/event.ts';
import { countSchema, errorResponses, routeSchema, strictQuery, successSchema } from './openapi-schemas.ts';
import { QueryParams } from './params.ts';
import { run } from './sql.ts';
import { HTTP_STATUS } from '../../shared/http/status.ts';

const MINUTE_MS = 60_000;
export const DEFAULT_INGEST_MINUTES = 60;
/** A day of minutes: the longest window one request may ask for. */
export const MAX_INGEST_MINUTES = 1440;

export interface IngestMinute {
  minute: string;
  events: number;
  by_event_type: Record<EventType, number>;
  metric_samples: number;
}

export interface IngestWindow {
  /** Epoch ms of the first and the last minute, both included. */
  firstMs: number;
  lastMs: number;
}

const floorMinute = (ms: number) => Math.floor(ms / MINUTE_MS) * MINUTE_MS;

/** Validates start_time / end_time into a window of whole minutes; `nowMs` places the default window. */
export function parseIngestWindow(query: Record<string, unknown>, nowMs: number): IngestWindow {
  const params = new QueryParams(query);
  const start = params.time('start_time');
  const end = params.time('end_time');
  params.done();
  const defaultSpanMs = (DEFAULT_INGEST_MINUTES - 1) * MINUTE_MS;
  const lastMs = floorMinute(end?.getTime() ?? (start ? start.getTime() + defaultSpanMs : nowMs));
  const firstMs = start ? floorMinute(start.getTime()) : lastMs - defaultSpanMs;
  const minutes = (lastMs - firstMs) / MINUTE_MS + 1;
  if (start && end && end < start) params.fail('end_time', 'must not be before start_time');
  else if (minutes > MAX_INGEST_MINUTES) {
    params.fail(
      'start_time',
      `the window may span at most ${MAX_INGEST_MINUTES} minutes (24 h) from the minute of start_time to the ` +
        `minute of end_time, got ${minutes}`,
    );
  }
  params.done();
  return { firstMs, lastMs };
}

const INGEST_SQL = `
  SELECT bucket, kind, CASE WHEN kind = 'event' THEN event_type ELSE '' END AS event_type, sum(count)::int8 AS count
    FROM rollups
   WHERE bucket >= $1 AND bucket <= $2
   GROUP BY 1, 2, 3`;

interface IngestRow {
  bucket: Date;
  kind: 'event' | 'metric';
  event_type: string;
  count: string;
}

export async function readIngestMinutes(pool: Pool, window: IngestWindow): Promise<IngestMinute[]> {
  const minutes: IngestMinute[] = [];
  for (let ms = window.firstMs; ms <= window.lastMs; ms += MINUTE_MS) {
    const byType = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;
    minutes.push({ minute: new Date(ms).toISOString(), events: 0, by_event_type: byType, metric_samples: 0 });
  }
  const rows = await run<IngestRow>(pool, INGEST_SQL, [new Date(window.firstMs), new Date(window.lastMs)]);
  for (const row of rows) {
    const minute = minutes[(row.bucket.getTime() - window.firstMs) / MINUTE_MS];
    const count = Number(row.count);
    if (row.kind === 'metric') {
      minute.metric_samples += count;
    } else {
      minute.events += count;
      // Rollups only hold validated event types; an unknown one still counts in `events`.
      if (row.event_type in minute.by_event_type) minute.by_event_type[row.event_type as EventType] += count;
    }
  }
  return minutes;
}

const count = countSchema;
const minuteTime = { type: 'string', format: 'date-time' };

const ingestResponse = successSchema({
  type: 'object',
  required: ['start_time', 'end_time', 'minutes'],
  properties: {
    start_time: { ...minuteTime, description: 'The first minute of the window (start_time rounded down).' },
    end_time: { ...minuteTime, description: 'The last minute of the window (end_time rounded down), included.' },
    minutes: {
      type: 'array',
      maxItems: MAX_INGEST_MINUTES,
      description: 'One bucket per minute of the window, oldest first; minutes without data are zeros.',
      items: {
        type: 'object',
        required: ['minute', 'events', 'by_event_type', 'metric_samples'],
        properties: {
          minute: { ...minuteTime, description: 'Start of the minute.' },
          events: { ...count, description: 'Events stored whose timestamp falls in this minute.' },
          by_event_type: {
            type: 'object',
            required: [...EVENT_TYPES],
            properties: Object.fromEntries(EVENT_TYPES.map((t) => [t, count])),
          },
          metric_samples: { ...count, description: 'Metric samples stored whose timestamp falls in this minute.' },
        },
      },
    },
  },
});

export function ingestRoute(pool: Pool): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/api/v1/monitoring/stats/ingest',
      routeSchema({
        summary: 'Events and metric samples stored per minute (moderator+)',
        description:
          `From the writer's per-minute rollups. Window: the minute of \`start_time\` to the minute of \`end_time\`, ` +
          `both included, at most ${MAX_INGEST_MINUTES} minutes; default the current minute and the 59 before it.`,
        tags: ['stats'],
        querystring: strictQuery({
          start_time: { ...minuteTime, description: 'Default: 59 minutes before end_time.' },
          end_time: { ...minuteTime, description: 'Default: now (or 59 minutes after start_time when it is given).' },
        }),
        response: {
          200: ingestResponse,
          ...errorResponses(HTTP_STATUS.BAD_REQUEST, HTTP_STATUS.UNAUTHORIZED, HTTP_STATUS.FORBIDDEN),
        },
      }),
      async (request) => {
        const window = parseIngestWindow(request.query as Record<string, unknown>, Date.now());
        return {
          success: true,
          data: {
            start_time: new Date(window.firstMs).toISOString(),
            end_time: new Date(window.lastMs).toISOString(),
            minutes: await readIngestMinutes(pool, window),
          },
        };
      },
    );
  };
}
