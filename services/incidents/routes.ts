/**
 * The incident API under /api/v1/monitoring/incidents (contract shapes; access in shared/auth/policy.ts, visibility in
 * store.ts): create, list, read, update, timeline, analysis.
 */
import type { FastifyPluginAsync, FastifyRequest, RouteShorthandOptions } from 'fastify';
import type { Principal } from '../../shared/auth/plugin.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { validationError } from '../../shared/errors.ts';
import { subjectRateLimit } from '../../shared/http/rate-limit.ts';
import { analyseAndStore, latestAnalysis } from './analysis/run.ts';
import type { ExpensiveWork } from './expensive.ts';
import { parseListFilters, parseNewIncident, parsePage, parsePatch } from './input.ts';
import { createIncident, getVisible, incidentToJson, listIncidents, notFound, updateIncident } from './store.ts';
import { readTimeline } from './timeline.ts';

import { HTTP_STATUS } from '../../shared/http/status.ts';

const BASE = '/api/v1/monitoring/incidents';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type WithId = FastifyRequest<{ Params: { id: string }; Querystring: Record<string, unknown> }>;

const principal = (request: FastifyRequest): Principal => request.principal!;

/** For the OpenAPI document only (no body or query schema: input.ts validates, naming every problem). */
const docs = (summary: string, description: string, more: RouteShorthandOptions = {}): RouteShorthandOptions => ({
  schema: { summary, description, tags: ['incidents'], security: [{ bearerAuth: [] }] },
  ...more,
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
  if (!UUID.test(id)) throw notFound(id);
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

    app.get(
      BASE,
      docs(
        'List incidents',
        'Users: created or assigned; moderator+: all. Filters status, severity (comma lists), assigned_to, ' +
          'start_time, end_time; limit, offset.',
      ),
      async (request) => {
        const filters = parseListFilters(request.query as Record<string, unknown>);
        const page = await listIncidents(pool, filters, principal(request));
        return {
          success: true,
          data: page.rows.map(incidentToJson),
          limit: filters.limit,
          offset: filters.offset,
          has_more: page.more,
        };
      },
    );

    app.get(
      `${BASE}/:id`,
      docs('One incident', '404 when missing or not visible to the caller.'),
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

    app.get(
      `${BASE}/:id/timeline`,
      docs(
        'Incident timeline',
        'Changes, alert transitions and correlated events from 1 h before the start until resolution, in time order; ' +
          'limit, offset.',
      ),
      async (request: WithId) => {
        const id = incidentId(request);
        const page = parsePage(request.query, { defaultLimit: 100, maxLimit: 1000, maxOffset: 10_000 });
        const row = await getVisible(pool, id, principal(request));
        return { success: true, data: await expensive.forRequest((client) => readTimeline(client, row, page)) };
      },
    );

    const analysisDocs =
      'Ranked suspects with evidence, first error events, request ids crossing sources; ' +
      'recompute=true computes anew (rate-limited per subject).';
    const analysisOptions = docs('Root-cause analysis', analysisDocs, { config: recomputeLimit });
    app.get(`${BASE}/:id/analysis`, analysisOptions, async (request: WithId) => {
      const id = incidentId(request);
      const query = request.query;
      const problems = Object.keys(query)
        .filter((k) => k !== 'recompute')
        .map((field) => ({ field, message: 'is not a known parameter (known: recompute)' }));
      if (query.recompute !== undefined && query.recompute !== 'true' && query.recompute !== 'false')
        problems.push({ field: 'recompute', message: 'must be true or false' });
      if (problems.length > 0) throw validationError(problems);
      const recompute = query.recompute === 'true';
      const row = await getVisible(pool, id, principal(request));
      const stored = recompute ? null : await latestAnalysis(pool, id);
      if (stored) return { success: true, data: stored };
      const sub = principal(request).sub;
      const analysis = await expensive.forRequest((client) => analyseAndStore(client, row, 'request', sub));
      return { success: true, data: analysis };
    });
  };
}
