/**
 * Route schemas of the query service: the OpenAPI document (/docs/openapi.json) shows them and Fastify validates
 * querystring and params with them (shared/http/validation.ts), so what is documented is what is accepted. A query
 * string is strict: an unknown parameter is a 400 naming it. Responses are sent with JSON.stringify (the response
 * schemas document, they do not reshape). Checks across parameters (end_time after start_time, step with name…)
 * stay in the handlers (params.ts). Dialect: OpenAPI 3.0 (`nullable`, no `const`), which client generators support
 * best.
 */
import { EVENT_TYPES, LEVELS } from '../../shared/schemas/event.ts';
import { durationSchema, isoTimeSchema } from '../../shared/schemas/primitives.ts';
import { strictQuery } from '../../shared/http/validation.ts';
import { errorResponses, routeSchema, successSchema } from '../../shared/http/openapi.ts';

export { errorResponses, routeSchema, strictQuery, successSchema };
import { METRIC_TYPES } from '../../shared/schemas/metric.ts';

export const countSchema = { type: 'integer', minimum: 0 };

const isoTime = { type: 'string', format: 'date-time' };
/** Longest source, metric name or tag value a filter takes. */
export const NAME_MAX_CHARS = 255;
/** Longest label value a metric filter takes. */
export const LABEL_VALUE_MAX_CHARS = 1024;
export const MESSAGE_CONTAINS_MAX_CHARS = 1024;
export const CURSOR_MAX_CHARS = 200;
const bounded = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength });
const nullableString = { type: 'string', nullable: true };

export const eventSchema = {
  type: 'object',
  required: ['id', 'event_type', 'source', 'tags', 'payload', 'timestamp'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    event_type: { type: 'string', enum: [...EVENT_TYPES] },
    source: { type: 'string' },
    message: nullableString,
    level: { type: 'string', enum: [...LEVELS], nullable: true },
    tags: { type: 'object', additionalProperties: true },
    payload: { type: 'object', additionalProperties: true },
    timestamp: isoTime,
    created_by: nullableString,
    created_at: isoTime,
  },
};

export const metricSampleSchema = {
  type: 'object',
  required: ['id', 'name', 'metric_type', 'value', 'labels', 'timestamp'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    metric_type: { type: 'string', enum: [...METRIC_TYPES] },
    value: { type: 'number' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    timestamp: isoTime,
    created_by: nullableString,
    created_at: isoTime,
  },
};

export const seriesSchema = {
  type: 'object',
  required: ['name', 'metric_type', 'labels', 'points'],
  properties: {
    name: { type: 'string' },
    metric_type: { type: 'string', enum: [...METRIC_TYPES] },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    points: {
      type: 'array',
      description: 'One point per step-aligned bucket that has samples (buckets without samples are omitted).',
      items: {
        type: 'object',
        required: ['timestamp', 'value'],
        properties: { timestamp: { ...isoTime, description: 'Start of the bucket.' }, value: { type: 'number' } },
      },
    },
  },
};

const common = {
  start_time: { ...isoTimeSchema, description: 'Only rows at or after this time (ISO 8601 with a zone).' },
  end_time: { ...isoTimeSchema, description: 'Only rows at or before this time.' },
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  offset: { type: 'integer', minimum: 0, maximum: 10_000, default: 0 },
};

export function listQuerySchema(kind: 'events' | 'metrics'): Record<string, unknown> {
  if (kind === 'events') {
    return strictQuery(
      {
        event_type: { type: 'string', enum: [...EVENT_TYPES] },
        source: bounded(NAME_MAX_CHARS),
        level: { type: 'string', enum: [...LEVELS] },
        ...common,
        message_contains: {
          ...bounded(MESSAGE_CONTAINS_MAX_CHARS),
          description:
            'Case-insensitive substring of the message; start_time at most ' +
            'QUERY_MESSAGE_SEARCH_MAX_HOURS (24) before end_time or now.',
        },
        cursor: {
          ...bounded(CURSOR_MAX_CHARS),
          description: 'next_cursor of the previous page (same filters); not with offset.',
        },
      },
      {
        description: 'Also `tag.<key>=<value>` (up to 16, AND-combined), e.g. `tag.service=api`.',
        families: { 'tag.': bounded(NAME_MAX_CHARS) },
        needs: { message_contains: ['start_time'] },
      },
    );
  }
  return strictQuery(
    {
      name: { ...bounded(NAME_MAX_CHARS), description: 'Metric name.' },
      metric_type: { type: 'string', enum: [...METRIC_TYPES] },
      ...common,
      limit: { ...common.limit, description: 'Samples per page; with step, series per page.' },
      step: {
        ...durationSchema,
        description: 'Bucket width (30s, 5m, 1h, 1d, or seconds): answers one series per label set instead of samples.',
      },
      agg: {
        type: 'string',
        enum: ['avg', 'min', 'max', 'sum', 'count', 'rate', 'p50', 'p95', 'p99'],
        default: 'avg',
        description: 'Per bucket. rate: counters only (increments per second); p50/p95/p99: histograms and summaries.',
      },
    },
    {
      description: 'Also `label.<key>=<value>` (up to 16, AND-combined), e.g. `label.method=GET`.',
      families: { 'label.': bounded(LABEL_VALUE_MAX_CHARS) },
      needs: { step: ['name'], agg: ['step'] },
    },
  );
}
