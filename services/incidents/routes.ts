/**
 * The incident API under /api/v1/monitoring/incidents (seed shapes; access in shared/auth/policy.ts, visibility in
 * store.ts): create, list, read, update, timeline, analysis.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Principal } from '../../shared/auth/plugin.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { validationError } from '../../shared/errors.ts';
import { analyseAndStore, latestAnalysis } from './analysis/run.ts';
import { parseListFilters, parseNewIncident, parsePage, parsePatch } from './input.ts';
import { createIncident, getVisible, incidentToJson, listIncidents, notFound, updateIncident } from './store.ts';
import { readTimeline } from './timeline.ts';

const BASE = '/api/v1/monitoring/incidents';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type WithId = FastifyRequest<{ Params: { id: string }; Querystring: Record<string, unknown> }>;

const principal = (request: FastifyRequest): Principal => request.principal!;

function incidentId(request: WithId): string {
  const id = request.params.id;
  if (!UUID.test(id)) throw notFound(id);
  return id.toLowerCase();
}

export function incidentRoutes(pool: Pool): FastifyPluginAsync {
  return async (app) => {
    app.post(BASE, async (request, reply) => {
      const input = parseNewIncident(request.body, Date.now());
      const row = await createIncident(pool, input, principal(request));
      return reply.status(201).send({ success: true, data: incidentToJson(row) });
    });

    app.get(BASE, async (request) => {
      const filters = parseListFilters(request.query as Record<string, unknown>);
      const page = await listIncidents(pool, filters, principal(request));
      return { success: true, data: page.rows.map(incidentToJson), limit: filters.limit, offset: filters.offset, has_more: page.more };
    });

    app.get(`${BASE}/:id`, async (request: WithId) => {
      const row = await getVisible(pool, incidentId(request), principal(request));
      return { success: true, data: incidentToJson(row) };
    });

    app.put(`${BASE}/:id`, async (request: WithId) => {
      const id = incidentId(request);
      const patch = parsePatch(request.body);
      const row = await updateIncident(pool, id, patch, principal(request));
      return { success: true, data: incidentToJson(row) };
    });

    app.get(`${BASE}/:id/timeline`, async (request: WithId) => {
      const id = incidentId(request);
      const page = parsePage(request.query, { defaultLimit: 100, maxLimit: 1000, maxOffset: 10_000 });
      const row = await getVisible(pool, id, principal(request));
      return { success: true, data: await readTimeline(pool, row, page) };
    });

    app.get(`${BASE}/:id/analysis`, async (request: WithId) => {
      const id = incidentId(request);
      const query = request.query;
      const problems = Object.keys(query).filter((k) => k !== 'recompute').map((field) => ({ field, message: 'is not a known parameter (known: recompute)' }));
      if (query.recompute !== undefined && query.recompute !== 'true' && query.recompute !== 'false') problems.push({ field: 'recompute', message: 'must be true or false' });
      if (problems.length > 0) throw validationError(problems);
      const recompute = query.recompute === 'true';
      const row = await getVisible(pool, id, principal(request));
      const stored = recompute ? null : await latestAnalysis(pool, id);
      return { success: true, data: stored ?? (await analyseAndStore(pool, row, 'request', principal(request).sub)) };
    });
  };
}
