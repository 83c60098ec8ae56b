/**
 * Route schemas of the query service, written for the OpenAPI document (/docs/openapi.json) only: `docsOnly`
 * attaches them with a pass-through validator and JSON.stringify serializer, so Fastify neither validates nor
 * reshapes anything with them. Validation stays in params.ts, which names the parameter and the rule in each 400.
 * Dialect: OpenAPI 3.0 (`nullable`, no `const`), which client generators support best.
 */
import type { FastifySchema, RouteShorthandOptions } from 'fastify';
import { ERRORS } from '../../shared/errors.ts';
import { EVENT_TYPES, LEVELS } from '../../shared/schemas/event.ts';
import { METRIC_TYPES } from '../../shared/schemas/metric.ts';

export function docsOnly(schema: FastifySchema): RouteShorthandOptions {
  return {
    schema: { security: [{ bearerAuth: [] }], ...schema } as FastifySchema,
    validatorCompiler: () => () => true,
    serializerCompiler: () => (data) => JSON.stringify(data),
  };
}

const errorSchema = {
  type: 'object',
  required: ['success', 'error'],
  properties: {
    success: { type: 'boolean', enum: [false] },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERRORS) },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
        },
      },
    },
  },
};

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid parameters; `error.details` names each one and the rule.',
  401: 'Missing, expired or invalid bearer token.',
  403: "The token's role is below the route's.",
  404: 'No such resource.',
};

export function errorResponses(...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((s) => [s, { description: ERROR_DESCRIPTIONS[s], ...errorSchema }]));
}

const isoTime = { type: 'string', format: 'date-time' };
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
  start_time: { ...isoTime, description: 'Only rows at or after this time (ISO 8601 with a zone).' },
  end_time: { ...isoTime, description: 'Only rows at or before this time.' },
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  offset: { type: 'integer', minimum: 0, maximum: 10_000, default: 0 },
};

export function listQuerySchema(kind: 'events' | 'metrics'): Record<string, unknown> {
  if (kind === 'events') {
    return {
      type: 'object',
      description: 'Also `tag.<key>=<value>` (up to 16, AND-combined), e.g. `tag.service=api`.',
      properties: {
        event_type: { type: 'string', enum: [...EVENT_TYPES] },
        source: { type: 'string' },
        level: { type: 'string', enum: [...LEVELS] },
        ...common,
        message_contains: {
          type: 'string',
          description:
            'Case-insensitive substring of the message; needs start_time, at most QUERY_MESSAGE_SEARCH_MAX_HOURS ' +
            '(24) before end_time or now.',
        },
        cursor: { type: 'string', description: 'next_cursor of the previous page (same filters); not with offset.' },
      },
    };
  }
  return {
    type: 'object',
    description: 'Also `label.<key>=<value>` (up to 16, AND-combined), e.g. `label.method=GET`.',
    properties: {
      name: { type: 'string', description: 'Metric name; required with step.' },
      metric_type: { type: 'string', enum: [...METRIC_TYPES] },
      ...common,
      limit: { ...common.limit, description: 'Samples per page; with step, series per page.' },
      step: {
        type: 'string',
        description: 'Bucket width (30s, 5m, 1h, 1d): answers one series per label set instead of samples.',
      },
      agg: {
        type: 'string',
        enum: ['avg', 'min', 'max', 'sum', 'count', 'rate', 'p50', 'p95', 'p99'],
        default: 'avg',
        description: 'Per bucket. rate: counters only (increments per second); p50/p95/p99: histograms and summaries.',
      },
    },
  };
}
