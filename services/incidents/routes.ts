/**
 * The incident API under /api/v1/monitoring/incidents (contract shapes; access in shared/auth/policy.ts, visibility in
 * store.ts): create, list, read, update, timeline, analysis.
 */
import type { FastifyPluginAsync, FastifyRequest, RouteShorthandOptions } from 'fastify';
import type { Principal } from '../../shared/auth/plugin.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { subjectRateLimit } from '../../shared/http/rate-limit.ts';
import { commaListSchema, strictQuery } from '../../shared/http/validation.ts';
import { isoTimeSchema, isUuid } from '../../shared/schemas/primitives.ts';
import { analysisResponse } from './analysis/openapi.ts';
import { analyseAndStore, latestAnalysis } from './analysis/run.ts';
import type { ExpensiveWork } from './expensive.ts';
import {
  LIMIT_DEFAULT,
  LIMIT_MAX,
  OFFSET_MAX,
  parseListFilters,
  parseNewIncident,
  parsePage,
  parsePatch,
} from './input.ts';
import { SEVERITIES, STATUSES } from './lifecycle.ts';
import { createIncident, getVisible, incidentToJson, listIncidents, notFound, updateIncident } from './store.ts';
import { readTimeline } from './timeline.ts';

import { HTTP_STATUS } from '../../shared/http/status.ts';

const BASE = '/api/v1/monitoring/incidents';
/** Timeline entries per page: at most, and without a limit. */
const TIMELINE_LIMIT_MAX = 1000;
const TIMELINE_LIMIT_DEFAULT = 100;
const TIMELINE_PAGE = { defaultLimit: TIMELINE_LIMIT_DEFAULT, maxLimit: TIMELINE_LIMIT_MAX, maxOffset: OFFSET_MAX };

type WithId = FastifyRequest<{ Params: { id: string }; Querystring: Record<string, unknown> }>;

const principal = (request: FastifyRequest): Principal => request.principal!;

/**
 * The route's documentation and query-string schema (Fastify validates it: an unknown parameter is a 400 naming it).
 * Bodies have no schema: input.ts validates them, naming every problem at once.
 */
const docs = (
  summary: string,
  description: string,
  more: RouteShorthandOptions = {},
  query = strictQuery({}),
): RouteShorthandOptions => ({
  schema: { summary, description, tags: ['incidents'], security: [{ bearerAuth: [] }], querystring: query },
  ...more,
});

const page = (maxLimit: number, defaultLimit: number) => ({
  limit: { type: 'integer', minimum: 1, maximum: maxLimit, default: defaultLimit },
  offset: { type: 'integer', minimum: 0, maximum: OFFSET_MAX, default: 0 },
});
const LIST_QUERY = strictQuery({
  status: commaListSchema(STATUSES),
  severity: commaListSchema(SEVERITIES),
  assigned_to: { type: 'string', minLength: 1, maxLength: 255 },
  start_time: { ...isoTimeSchema, description: 'Incidents started at or after this time.' },
  end_time: { ...isoTimeSchema, description: 'Incidents started at or before this time.' },
  ...page(LIMIT_MAX, LIMIT_DEFAULT),
});
const TIMELINE_QUERY = strictQuery(page(TIMELINE_LIMIT_MAX, TIMELINE_LIMIT_DEFAULT));
const listOptions = docs(
  'List incidents',
  'Users: created or assigned; moderator+: all. Filters status, severity (comma lists), assigned_to, start_time, ' +
    'end_time; limit, offset.',
  {},
  LIST_QUERY,
);
const timelineOptions = docs(
  'Incident timeline',
  'Changes, alert transitions and correlated events from 1 h before the start until resolution, in time order; ' +
    'limit, offset.',
  {},
  TIMELINE_QUERY,
);
const ANALYSIS_QUERY = strictQuery({
  recompute: {
    type: 'string',
    enum: ['true', 'false'],
    default: 'false',
    description: 'true: compute anew (rate-limited per subject).',
  },
});

export interface IncidentRoutesDeps {
  /** Incident records: create, list, read, update, stored analyses. */
  pool: Pool;
  /** Analyses and timeline pages (expensive.ts). */
  expensive: ExpensiveWork;
  limits: { windowMs: number; recompute: number };
}

function incidentId(request: WithId): string {
  const id = request.params.id;
  if (!isUuid(id)) throw notFound(id);
  return id.toLowerCase();
}

export function incidentRoutes({ pool, expensive, limits }: IncidentRoutesDeps): FastifyPluginAsync {
  const recomputeLimit = subjectRateLimit({
    max: limits.recompute,
    windowMs: limits.windowMs,
    what: 'analysis recomputes (recompute=true)',
    applies: (request) => (request.query as Record<string, unknown>).recompute === 'true',
  });
  return async (app) => {
    app.post(
      BASE,
      docs(
        'Open an incident',
        'title, severity (low|medium|high|critical), optional description, assigned_to, started_at, sources, tags; ' +
          "created_by is the token's sub. 201.",
      ),
      async (request, reply) => {
        const input = parseNewIncident(request.body, Date.now());
        const row = await createIncident(pool, input, principal(request));
        request.audit('incident.create', row.id, { title: row.title, severity: row.severity });
        return reply.status(HTTP_STATUS.CREATED).send({ success: true, data: incidentToJson(row) });
      },
    );

    app.get(BASE, listOptions, async (request) => {
      const filters = parseListFilters(request.query as Record<string, unknown>);
      const page = await listIncidents(pool, filters, principal(request));
      return {
        success: true,
        data: page.rows.map(incidentToJson),
        limit: filters.limit,
        offset: filters.offset,
        has_more: page.more,
      };
    });

    app.get(
      `${BASE}/:id`,
      docs(
        'One incident',
        'With allowed_transitions: the statuses it may move to now (docs/incidents.md). 404 when missing or not ' +
          'visible to the caller.',
      ),
      async (request: WithId) => {
        const row = await getVisible(pool, incidentId(request), principal(request));
        return { success: true, data: incidentToJson(row) };
      },
    );

    app.put(
      `${BASE}/:id`,
      docs(
        'Update an incident',
        'status (lifecycle in docs/incidents.md; 409 naming the allowed moves), root_cause, severity, assigned_to, ' +
          'description, title, sources, tags.',
      ),
      async (request: WithId) => {
        const id = incidentId(request);
        const patch = parsePatch(request.body);
        const row = await updateIncident(pool, id, patch, principal(request));
        request.audit('incident.update', id, { changed: Object.keys(patch).sort(), status: row.status });
        return { success: true, data: incidentToJson(row) };
      },
    );

    app.get(`${BASE}/:id/timeline`, timelineOptions, async (request: WithId) => {
      const id = incidentId(request);
      const page = parsePage(request.query, TIMELINE_PAGE);
      const row = await getVisible(pool, id, principal(request));
      return { success: true, data: await expensive.forRequest((client) => readTimeline(client, row, page)) };
    });

    const analysisDocs =
      'Ranked suspects with evidence, first error events, request ids crossing sources, trace ids of the errors; ' +
      'recompute=true computes anew (rate-limited per subject).';
    const analysisOptions = docs('Root-cause analysis', analysisDocs, { config: recomputeLimit }, ANALYSIS_QUERY);
    // The response schema documents the answer; JSON.stringify sends it as built (no reshaping by the schema).
    analysisOptions.schema = { ...analysisOptions.schema, response: analysisResponse };
    analysisOptions.serializerCompiler = () => (data) => JSON.stringify(data);
    app.get(`${BASE}/:id/analysis`, analysisOptions, async (request: WithId) => {
      const id = incidentId(request);
      const recompute = request.query.recompute === 'true';
      const row = await getVisible(pool, id, principal(request));
      const stored = recompute ? null : await latestAnalysis(pool, id);
      if (stored) return { success: true, data: stored };
      const sub = principal(request).sub;
      const analysis = await expensive.forRequest((client) => analyseAndStore(client, row, 'request', sub));
      return { success: true, data: analysis };
    });
  };
}
