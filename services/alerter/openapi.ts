/**
 * Route schemas of the alert rule API (routes.ts). Fastify validates the query strings with them (strict: an unknown
 * parameter is a 400 naming it, shared/http/validation.ts) and the OpenAPI document shows them. Rule bodies have no
 * schema: rules/rule-input.ts validates them, naming every problem at once (a query that does not parse with its
 * position). Path ids are checked by the handlers (not a rule id: 404). Responses are sent with JSON.stringify: the
 * response schemas document, they do not reshape.
 */
import type { FastifySchema, RouteShorthandOptions } from 'fastify';
import { errorResponses, routeSchema, successSchema } from '../../shared/http/openapi.ts';
import { HTTP_STATUS } from '../../shared/http/status.ts';
import { strictQuery } from '../../shared/http/validation.ts';
import { SEVERITIES } from './rules/rule.ts';

/** Active instances listed per rule by default, and at most (`instances_limit`); `instances_offset` pages on. */
export const DEFAULT_INSTANCES_LIMIT = 100;
export const MAX_INSTANCES_LIMIT = 1000;
export const MAX_INSTANCES_OFFSET = 10_000_000;
/** Transitions a history page lists by default, and at most (`limit`). */
export const DEFAULT_TRANSITIONS_LIMIT = 100;
export const MAX_HISTORY = 1000;

const isoTime = { type: 'string', format: 'date-time' };
const nullableIsoTime = { ...isoTime, nullable: true };
const labels = { type: 'object', additionalProperties: { type: 'string' } };
const ALERT_STATES = ['inactive', 'pending', 'firing', 'resolved'];

const instance = {
  type: 'object',
  required: ['labels', 'state', 'value', 'active_at', 'fired_at'],
  properties: {
    labels,
    state: { type: 'string', enum: ['pending', 'firing'] },
    value: { type: 'number' },
    active_at: isoTime,
    fired_at: nullableIsoTime,
  },
};

const rule = {
  type: 'object',
  required: ['id', 'name', 'query', 'state', 'active_instances', 'active_instance_count'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    description: { type: 'string', nullable: true },
    query: { type: 'string' },
    threshold_value: { type: 'number', nullable: true },
    for: { type: 'string', description: 'A duration: 0s, 5m, 1h30m.' },
    keep_firing_for: { type: 'string' },
    severity: { type: 'string', enum: [...SEVERITIES] },
    labels,
    annotations: labels,
    enabled: { type: 'boolean' },
    created_by: { type: 'string', nullable: true },
    created_at: isoTime,
    updated_at: isoTime,
    state: {
      type: 'string',
      enum: ['inactive', 'pending', 'firing'],
      description: 'firing if an instance fires, else pending if one is pending, else inactive.',
    },
    active_instances: { type: 'array', items: instance, description: 'One page of them, oldest first.' },
    active_instance_count: { type: 'integer', minimum: 0 },
    firing_instance_count: { type: 'integer', minimum: 0 },
    active_instances_offset: { type: 'integer', minimum: 0 },
    active_instances_has_more: { type: 'boolean' },
  },
};

const transition = {
  type: 'object',
  required: ['id', 'labels', 'from', 'to', 'value', 'active_at', 'at'],
  properties: {
    id: { type: 'integer' },
    labels,
    from: { type: 'string', enum: ALERT_STATES },
    to: { type: 'string', enum: ALERT_STATES },
    value: { type: 'number', nullable: true },
    active_at: isoTime,
    at: isoTime,
  },
};

const preview = {
  type: 'object',
  required: ['step', 'evaluations', 'rows_read', 'transitions', 'alerts'],
  properties: {
    step: { type: 'string' },
    evaluations: { type: 'integer', minimum: 0 },
    rows_read: { type: 'integer', minimum: 0 },
    transitions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          labels,
          from: { type: 'string' },
          to: { type: 'string' },
          value: { type: 'number' },
          at: isoTime,
        },
      },
    },
    alerts: {
      type: 'array',
      items: {
        type: 'object',
        properties: { labels, active_at: isoTime, fired_at: nullableIsoTime, resolved_at: nullableIsoTime },
      },
    },
  },
};

const INSTANCES_QUERY = strictQuery({
  instances_limit: {
    type: 'integer',
    minimum: 1,
    maximum: MAX_INSTANCES_LIMIT,
    default: DEFAULT_INSTANCES_LIMIT,
    description: 'Active instances listed per rule.',
  },
  instances_offset: {
    type: 'integer',
    minimum: 0,
    maximum: MAX_INSTANCES_OFFSET,
    default: 0,
    description: 'Active instances skipped per rule (oldest first).',
  },
});

const HISTORY_QUERY = strictQuery({
  limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY, default: DEFAULT_TRANSITIONS_LIMIT },
});

const { BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND } = HTTP_STATUS;

/** A route of the alert rule API: its documentation and query-string schema (none given: no parameters). */
function alertRoute(summary: string, description: string, schema: FastifySchema): RouteShorthandOptions {
  return routeSchema({ summary, description, tags: ['alerts'], ...schema });
}

export const alertRouteOptions = {
  create: alertRoute(
    'Create an alert rule',
    'Moderator+. A query that does not parse: 400 naming its position, line and column. 201 with the rule.',
    {
      response: { [HTTP_STATUS.CREATED]: successSchema(rule), ...errorResponses(BAD_REQUEST, UNAUTHORIZED, FORBIDDEN) },
    },
  ),
  validate: alertRoute(
    'Check an alert rule without creating it',
    "Moderator+. The create's checks: 200 {valid: true}, or the create's 400.",
    {
      response: {
        [HTTP_STATUS.OK]: successSchema({ type: 'object', properties: { valid: { type: 'boolean', enum: [true] } } }),
        ...errorResponses(BAD_REQUEST, UNAUTHORIZED, FORBIDDEN),
      },
    },
  ),
  list: alertRoute('List alert rules', 'Every rule with its state, counts and one page of its active instances.', {
    querystring: INSTANCES_QUERY,
    response: {
      [HTTP_STATUS.OK]: successSchema({ type: 'array', items: rule }),
      ...errorResponses(BAD_REQUEST, UNAUTHORIZED),
    },
  }),
  get: alertRoute('One alert rule', 'With its state, counts and one page of its active instances; 404 if unknown.', {
    querystring: INSTANCES_QUERY,
    response: { [HTTP_STATUS.OK]: successSchema(rule), ...errorResponses(BAD_REQUEST, UNAUTHORIZED, NOT_FOUND) },
  }),
  update: alertRoute(
    'Change an alert rule',
    'Moderator+. Any of the create fields; the others are kept. A changed query or threshold resolves its alerts.',
    {
      response: {
        [HTTP_STATUS.OK]: successSchema(rule),
        ...errorResponses(BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND),
      },
    },
  ),
  delete: alertRoute('Delete an alert rule', 'Moderator+. Its firing alerts resolve (notifications included).', {
    response: {
      [HTTP_STATUS.OK]: successSchema({
        type: 'object',
        properties: { id: { type: 'string', format: 'uuid' }, deleted: { type: 'boolean', enum: [true] } },
      }),
      ...errorResponses(BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND),
    },
  }),
  history: alertRoute("An alert rule's history", 'Every transition of its alerts, newest first.', {
    querystring: HISTORY_QUERY,
    response: {
      [HTTP_STATUS.OK]: successSchema({ type: 'array', items: transition }),
      ...errorResponses(BAD_REQUEST, UNAUTHORIZED, NOT_FOUND),
    },
  }),
  preview: alertRoute(
    'Backtest an alert rule',
    'Moderator+. A saved rule (rule_id) or the create fields, over stored history from start_time to end_time.',
    {
      response: {
        [HTTP_STATUS.OK]: successSchema(preview),
        ...errorResponses(BAD_REQUEST, UNAUTHORIZED, FORBIDDEN),
      },
    },
  ),
};
