/**
 * The analysis answer's shape, for the OpenAPI document only (the route sends with JSON.stringify: the schema
 * neither validates nor reshapes the answer). docs/incidents.md ("Analysis") says what each field means.
 */
import { successSchema } from '../../../shared/http/openapi.ts';

const isoTime = { type: 'string', format: 'date-time' };
const traceId = { type: 'string', description: 'A trace id (tag `trace_id`: 32 hex digits from OTLP).' };

const eventRef = {
  type: 'object',
  required: ['id', 'timestamp', 'source', 'level', 'message', 'trace_id'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    timestamp: isoTime,
    source: { type: 'string' },
    level: { type: 'string', nullable: true },
    message: { type: 'string', nullable: true },
    trace_id: { ...traceId, nullable: true, description: "The event's tag `trace_id`; null when it has none." },
  },
};

const suspect = {
  type: 'object',
  required: ['rank', 'kind', 'name', 'score', 'evidence'],
  properties: {
    rank: { type: 'integer', minimum: 1 },
    kind: { type: 'string', enum: ['source', 'tag', 'metric'] },
    name: { type: 'string' },
    score: { type: 'number', minimum: 0, maximum: 1 },
    evidence: {
      type: 'object',
      additionalProperties: true,
      description: 'The figures behind the score and `explanation`, the reasons in words; by kind.',
      properties: {
        explanation: { type: 'string' },
        first_error: { ...eventRef, nullable: true, description: 'Sources: the first error since the onset.' },
        shared_request_ids: { type: 'array', items: { type: 'string' }, maxItems: 10 },
        trace_ids: {
          type: 'array',
          items: traceId,
          maxItems: 10,
          description: 'Sources: the distinct trace ids on its errors, the earliest first (empty when none carry one).',
        },
      },
    },
  },
};

const window = { type: 'object', properties: { from: isoTime, to: isoTime } };

export const analysisResponse = {
  200: successSchema({
    type: 'object',
    required: ['id', 'incident_id', 'computed_at', 'trigger', 'windows', 'suspects', 'first_errors', 'request_ids'],
    properties: {
      id: { type: 'integer' },
      incident_id: { type: 'string', format: 'uuid' },
      computed_at: isoTime,
      trigger: { type: 'string', enum: ['open', 'request'] },
      windows: { type: 'object', properties: { baseline: window, before: window } },
      suspects: { type: 'array', items: suspect, maxItems: 20 },
      first_errors: { type: 'array', items: eventRef, description: 'The first error of each erring source.' },
      request_ids: {
        type: 'array',
        maxItems: 20,
        items: {
          type: 'object',
          properties: {
            request_id: { type: 'string' },
            sources: { type: 'array', items: { type: 'string' } },
            first_source: { type: 'string' },
            first_at: isoTime,
            events: { type: 'integer' },
            errors: { type: 'integer' },
          },
        },
      },
    },
  }),
};
