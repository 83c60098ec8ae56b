/**
 * The alert rule API under /api/v1/monitoring/alerts (RBAC in shared/auth/policy.ts: moderator+ to write, any role
 * to read). Reads come from PostgreSQL, so every process that serves them answers the same: a rule with its state
 * (firing if any instance fires, else pending if any is pending, else inactive) and its active instances; the
 * history is every transition with value and time, newest first.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { databaseError } from '../../shared/db/errors.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { VigilError, validationError } from '../../shared/errors.ts';
import { subjectRateLimit } from '../../shared/http/rate-limit.ts';
import { formatDuration } from '../../shared/promql/duration.ts';
import { isUuid } from '../../shared/schemas/primitives.ts';
import type { ParseOptions } from '../../shared/promql/compile.ts';
import { runPreview, type PreviewDeps } from './preview.ts';
import { ruleFields } from './rules/rule-input.ts';
import { DuplicateRuleNameError, RuleStore } from './rules/rule-store.ts';
import type { RuleDefinition } from './rules/rule.ts';

import { HTTP_STATUS } from '../../shared/http/status.ts';
import { alertRouteOptions as options, DEFAULT_INSTANCES_LIMIT, DEFAULT_TRANSITIONS_LIMIT } from './openapi.ts';

export interface RuleRoutesDeps {
  pool: Pool;
  parse: ParseOptions;
  preview: Omit<PreviewDeps, 'pool' | 'parse'>;
  /** Called after a rule changed, so the local alerter picks it up before its next revision check. */
  onChange(): void;
  /** Backtests per subject per window (0: unlimited). */
  limits: { windowMs: number; alertPreview: number };
}

const BASE = '/api/v1/monitoring/alerts';

/** One page of a rule's active instances, with the counts of all of them. */
export interface InstancePage {
  rows: InstanceRow[];
  total: number;
  firing: number;
}

interface InstanceRow {
  rule_id: string;
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  value: number;
  active_at: Date;
  fired_at: Date | null;
}

export function ruleRoutes(deps: RuleRoutesDeps): FastifyPluginAsync {
  const rules = new RuleStore(deps.pool);
  const db = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof DuplicateRuleNameError)
        throw validationError([{ field: 'name', message: 'another alert rule already has this name' }]);
      throw error instanceof VigilError ? error : databaseError(error);
    }
  };
  /** Per rule: the counts of its active instances and one page of them (oldest first), in two indexed queries. */
  const instancesOf = async (ids: string[], page: InstancesPage): Promise<Map<string, InstancePage>> => {
    const { rows: counts } = await deps.pool.query<{ rule_id: string; total: string; firing: string }>(
      `SELECT rule_id, count(*) AS total, count(*) FILTER (WHERE state = 'firing') AS firing
         FROM alert_instances WHERE rule_id = ANY($1::uuid[]) GROUP BY rule_id`,
      [ids],
    );
    const { rows } = await deps.pool.query<InstanceRow>(
      `SELECT i.rule_id, i.labels, i.state, i.value, i.active_at, i.fired_at
         FROM unnest($1::uuid[]) AS r(id)
         CROSS JOIN LATERAL (
           SELECT * FROM alert_instances a WHERE a.rule_id = r.id
            ORDER BY a.active_at, a.fingerprint LIMIT $2 OFFSET $3) i`,
      [counts.map((c) => c.rule_id), page.limit, page.offset],
    );
    const byRule = new Map<string, InstancePage>();
    for (const c of counts) byRule.set(c.rule_id, { rows: [], total: Number(c.total), firing: Number(c.firing) });
    for (const row of rows) byRule.get(row.rule_id)!.rows.push(row);
    return byRule;
  };
  /** `instances_limit` and `instances_offset` of GET /alerts and /alerts/{id}, bounded by the route's schema. */
  const pageOf = (query: InstancesQuery): InstancesPage => ({
    limit: query.instances_limit ?? DEFAULT_INSTANCES_LIMIT,
    offset: query.instances_offset ?? 0,
  });
  const existing = async (request: FastifyRequest): Promise<RuleDefinition> => {
    const { id } = request.params as { id: string };
    const rule = isUuid(id) ? await rules.get(id) : null;
    if (!rule) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no alert rule ${JSON.stringify(id.slice(0, 60))}`);
    return rule;
  };

  return async (app) => {
    app.post(BASE, options.create, async (request, reply) => {
      const { fields } = ruleFields(request.body, null, deps.parse);
      const rule = await db(() => rules.create(fields, request.principal!.sub));
      deps.onChange();
      request.audit('alert_rule.create', rule.id, { name: rule.name, query: rule.query });
      return reply.status(HTTP_STATUS.CREATED).send({ success: true, data: ruleToJson(rule, undefined) });
    });

    // The create checks without creating: the console checks a rule's query as it is typed (400 with position).
    app.post(`${BASE}/validate`, options.validate, async (request) => {
      ruleFields(request.body, null, deps.parse);
      return { success: true, data: { valid: true } };
    });

    app.get<{ Querystring: InstancesQuery }>(BASE, options.list, async (request) => {
      const page = pageOf(request.query);
      return db(async () => {
        const all = await rules.all();
        const instances = await instancesOf(
          all.map((r) => r.id),
          page,
        );
        return { success: true, data: all.map((r) => ruleToJson(r, instances.get(r.id), page.offset)) };
      });
    });

    app.get<{ Querystring: InstancesQuery }>(`${BASE}/:id`, options.get, async (request) => {
      const page = pageOf(request.query);
      return db(async () => {
        const rule = await existing(request);
        const instances = (await instancesOf([rule.id], page)).get(rule.id);
        return { success: true, data: ruleToJson(rule, instances, page.offset) };
      });
    });

    app.put(`${BASE}/:id`, options.update, async (request) => {
      const base = await db(() => existing(request));
      const { fields } = ruleFields(request.body, base, deps.parse);
      const rule = await db(() => rules.update(base.id, fields));
      if (!rule) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no alert rule ${base.id}`);
      deps.onChange();
      const changed = Object.keys(request.body as object).sort();
      request.audit('alert_rule.update', rule.id, { name: rule.name, changed });
      const page = { limit: DEFAULT_INSTANCES_LIMIT, offset: 0 };
      return { success: true, data: ruleToJson(rule, (await db(() => instancesOf([rule.id], page))).get(rule.id), 0) };
    });

    app.delete(`${BASE}/:id`, options.delete, async (request) => {
      const rule = await db(() => existing(request));
      await db(() => rules.delete(rule.id));
      deps.onChange();
      request.audit('alert_rule.delete', rule.id, { name: rule.name });
      return { success: true, data: { id: rule.id, deleted: true } };
    });

    app.get<{ Querystring: { limit?: number } }>(`${BASE}/:id/history`, options.history, async (request) =>
      db(async () => {
        const rule = await existing(request);
        const limit = request.query.limit ?? DEFAULT_TRANSITIONS_LIMIT;
        const { rows } = await deps.pool.query<{
          id: string;
          labels: Record<string, string>;
          from_state: string;
          to_state: string;
          value: number | null;
          active_at: Date;
          at: Date;
        }>(
          `SELECT id, labels, from_state, to_state, value, active_at, at FROM alert_transitions WHERE rule_id = $1 ` +
            `ORDER BY at DESC, id DESC LIMIT $2`,
          [rule.id, limit],
        );
        return {
          success: true,
          data: rows.map((r) => ({
            id: Number(r.id),
            labels: r.labels,
            from: r.from_state,
            to: r.to_state,
            value: r.value,
            active_at: r.active_at.toISOString(),
            at: r.at.toISOString(),
          })),
        };
      }),
    );

    const previewLimit = subjectRateLimit({
      max: deps.limits.alertPreview,
      windowMs: deps.limits.windowMs,
      what: 'alert backtests (preview)',
    });
    app.post(`${BASE}/preview`, { ...options.preview, config: previewLimit }, async (request) => {
      const result = await runPreview(request.body, { ...deps.preview, pool: deps.pool, parse: deps.parse, rules });
      return { success: true, data: result };
    });
  };
}

interface InstancesQuery {
  instances_limit?: number;
  instances_offset?: number;
}

/** One page of active instances per rule. */
interface InstancesPage {
  limit: number;
  offset: number;
}

/**
 * A rule as the API shows it: `state` and the counts from all its active instances, `active_instances` one page of
 * them (oldest first), `active_instances_has_more` when instances_offset + the page's length < the count.
 */
export function ruleToJson(rule: RuleDefinition, page: InstancePage | undefined, offset = 0) {
  const instances = page?.rows ?? [];
  const total = page?.total ?? 0;
  const firing = page?.firing ?? 0;
  const state = firing > 0 ? 'firing' : total > 0 ? 'pending' : 'inactive';
  return {
    id: rule.id,
    name: rule.name,
    description: rule.description,
    query: rule.query,
    threshold_value: rule.threshold_value,
    for: formatDuration(rule.forMs),
    keep_firing_for: formatDuration(rule.keepFiringForMs),
    severity: rule.severity,
    labels: rule.labels,
    annotations: rule.annotations,
    enabled: rule.enabled,
    created_by: rule.createdBy,
    created_at: rule.createdAt.toISOString(),
    updated_at: rule.updatedAt.toISOString(),
    state,
    active_instances: instances.map((i) => ({
      labels: i.labels,
      state: i.state,
      value: i.value,
      active_at: i.active_at.toISOString(),
      fired_at: i.fired_at?.toISOString() ?? null,
    })),
    active_instance_count: total,
    firing_instance_count: firing,
    active_instances_offset: offset,
    active_instances_has_more: offset + instances.length < total,
  };
}
