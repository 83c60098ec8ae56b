/**
 * The OpenAPI document a process of the query and alerter roles serves (/docs/openapi.json; each role adds its
 * routes to the one document) against what its routes accept: for every
 * operation, each documented query parameter with a valid value (its example, enum value or minimum) is accepted,
 * each required one missing is a 400 naming it, and an undocumented parameter is a 400 naming it — except on the
 * Prometheus-compatible API, which ignores unknown parameters as Prometheus does. A parameter documented as needing
 * others ("Needs start_time.") is sent with them. This keeps the document and the validation together.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertEvents } from '../../test/helpers/rows.ts';

interface Schema {
  type?: string;
  format?: string;
  enum?: unknown[];
  examples?: unknown[];
  minimum?: number;
  default?: unknown;
  items?: Schema;
}
interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header';
  required?: boolean;
  description?: string;
  example?: unknown;
  schema?: Schema;
}
interface Operation {
  method: string;
  path: string;
  parameters: Parameter[];
}

const PROMETHEUS = '/prometheus/api/v1/';
const ALERT_RULE = '/api/v1/monitoring/alerts/{id}';
const UNDOCUMENTED = 'undocumented_parameter';
const NEEDS = /Needs ([\w[\], ]+)\./;

/**
 * A valid value of a documented parameter: an hour ago for a date-time, else its example, first allowed value or
 * least.
 */
function sample(schema: Schema = {}, example?: unknown): string[] {
  // A recent time rather than the example: some parameters bound how far back they reach (message_contains).
  if (schema.format === 'date-time') return [new Date(Date.now() - 3_600_000).toISOString()];
  const value = example ?? schema.examples?.[0] ?? schema.enum?.[0] ?? schema.default ?? schema.minimum;
  if (Array.isArray(value)) return value.map(String);
  if (value !== undefined) return [String(value)];
  if (schema.type === 'array') return sample(schema.items);
  return schema.type === 'integer' || schema.type === 'number' ? ['1'] : ['x'];
}

function operations(doc: { paths: Record<string, Record<string, { parameters?: Parameter[] }>> }): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      parameters: op.parameters ?? [],
    })),
  );
}

describe('the OpenAPI document and the parameters the routes accept', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  let doc: Parameters<typeof operations>[0];
  let cursor: string;
  /** An alert rule, so that its routes answer from a rule rather than 404. */
  let ruleId: string;

  const call = async (op: Operation, query: [string, string][]) => {
    const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const param = op.parameters.find((p) => p.in === 'path' && p.name === name);
      if (op.path.startsWith(ALERT_RULE) && name === 'id') return ruleId;
      return encodeURIComponent(sample(param?.schema, param?.example)[0]);
    });
    const search = new URLSearchParams(query).toString();
    const res = await api.app.inject({
      method: op.method as 'GET',
      url: search === '' ? path : `${path}?${search}`,
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.statusCode, body: res.body, json: () => res.json() };
  };

  /** The pairs that send `param` validly: its value and those of the parameters it needs, transitively. */
  const valid = (op: Operation, param: Parameter, seen = new Set<string>()): [string, string][] => {
    if (seen.has(param.name)) return [];
    seen.add(param.name);
    const values = param.name === 'cursor' ? [cursor] : sample(param.schema, param.example);
    const needed = NEEDS.exec(param.description ?? '')?.[1].split(', ') ?? [];
    const others = needed.flatMap((name) => {
      const other = op.parameters.find((p) => p.in === 'query' && p.name === name);
      expect(other, `${op.method} ${op.path}: ${param.name} needs ${name}, which is not documented`).toBeDefined();
      return valid(op, other!, seen);
    });
    return [...values.map((v): [string, string] => [param.name, v]), ...others];
  };

  /**
   * The required query parameters. A Prometheus API POST may carry its parameters in the URL or the form body, so
   * its query string declares none required: it needs those of the GET of the same path.
   */
  const requiredOf = (op: Operation): Parameter[] => {
    const get =
      op.method === 'POST' && op.path.startsWith(PROMETHEUS)
        ? operations(doc).find((o) => o.method === 'GET' && o.path === op.path)
        : op;
    return (get ?? op).parameters.filter((p) => p.in === 'query' && p.required);
  };
  const baseline = (op: Operation) => requiredOf(op).flatMap((p) => valid(op, p));

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query,alerter');
    token = ctx.token('admin');
    const now = Date.now();
    await insertEvents(ctx.db, [
      { timestamp: now - 2000, source: 'api' },
      { timestamp: now - 1000, source: 'api' },
    ]);
    const first = await api.app.inject({
      method: 'GET',
      url: '/api/v1/monitoring/events?limit=1',
      headers: { authorization: `Bearer ${token}` },
    });
    cursor = first.json().next_cursor;
    const rule = await api.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/alerts',
      headers: { authorization: `Bearer ${token}` },
      payload: { name: 'contract', query: 'up > 1' },
    });
    expect(rule.statusCode, rule.body).toBe(201);
    ruleId = rule.json().data.id;
    doc = (await api.app.inject({ method: 'GET', url: '/docs/openapi.json' })).json();
  });
  afterAll(() => ctx?.cleanup());

  it('documents the routes it serves, with their query parameters', () => {
    const ops = operations(doc);
    const byRoute = Object.fromEntries(
      ops.map((op) => [
        `${op.method} ${op.path}`,
        op.parameters
          .filter((p) => p.in === 'query')
          .map((p) => p.name)
          .sort(),
      ]),
    );
    expect(typeof cursor).toBe('string');
    expect(byRoute['GET /api/v1/monitoring/events']).toEqual([
      'cursor',
      'end_time',
      'event_type',
      'level',
      'limit',
      'message_contains',
      'offset',
      'source',
      'start_time',
    ]);
    expect(byRoute['GET /api/v1/monitoring/incidents']).toEqual([
      'assigned_to',
      'end_time',
      'limit',
      'offset',
      'severity',
      'start_time',
      'status',
    ]);
    expect(byRoute['GET /prometheus/api/v1/query_range']).toEqual(['end', 'query', 'start', 'step', 'timeout']);
    expect(byRoute['GET /api/v1/monitoring/alerts']).toEqual(['instances_limit', 'instances_offset']);
    expect(byRoute['GET /api/v1/monitoring/alerts/{id}']).toEqual(['instances_limit', 'instances_offset']);
    expect(byRoute['GET /api/v1/monitoring/alerts/{id}/history']).toEqual(['limit']);
    for (const route of [
      'POST /api/v1/monitoring/alerts',
      'PUT /api/v1/monitoring/alerts/{id}',
      'DELETE /api/v1/monitoring/alerts/{id}',
      'POST /api/v1/monitoring/alerts/validate',
      'POST /api/v1/monitoring/alerts/preview',
    ])
      expect(byRoute[route], route).toEqual([]);
    expect(ops.length).toBeGreaterThanOrEqual(30);
  });

  it('accepts every documented query parameter with a valid value', async () => {
    const refused: string[] = [];
    for (const op of operations(doc)) {
      const query = op.parameters.filter((p) => p.in === 'query');
      if (query.length === 0) continue;
      for (const param of query) {
        const pairs = [...baseline(op).filter(([name]) => name !== param.name), ...valid(op, param)];
        const res = await call(op, pairs);
        if (res.status === 400 || res.status >= 500)
          refused.push(`${op.method} ${op.path} ${new URLSearchParams(pairs)} → ${res.status} ${res.body}`);
      }
    }
    expect(refused).toEqual([]);
  });

  it('answers 400 naming each documented required parameter that is missing', async () => {
    const checked: string[] = [];
    for (const op of operations(doc)) {
      for (const param of requiredOf(op)) {
        const res = await call(
          op,
          baseline(op).filter(([name]) => name !== param.name),
        );
        expect(res.status, `${op.method} ${op.path} without ${param.name}: ${res.body}`).toBe(400);
        if (op.path.startsWith(PROMETHEUS)) {
          expect(res.json()).toMatchObject({
            status: 'error',
            errorType: 'bad_data',
            error: expect.stringContaining(param.name),
          });
        } else {
          expect(res.json().error.details).toEqual([{ field: param.name, message: 'is required' }]);
        }
        checked.push(`${op.method} ${op.path} ${param.name}`);
      }
    }
    expect(checked).toContain('GET /prometheus/api/v1/query_range step');
  });

  it('refuses an undocumented parameter by name, except the Prometheus-compatible API, which ignores it', async () => {
    const wrong: string[] = [];
    for (const op of operations(doc)) {
      const res = await call(op, [...baseline(op), [UNDOCUMENTED, '1']]);
      if (op.path.startsWith(PROMETHEUS)) {
        if (res.status === 400) wrong.push(`${op.method} ${op.path} refused it: ${res.body}`);
        continue;
      }
      const details = res.status === 400 ? res.json().error.details : null;
      const named =
        details?.length === 1 &&
        details[0].field === UNDOCUMENTED &&
        /^is not a known parameter \(known: /.test(details[0].message);
      if (!named) wrong.push(`${op.method} ${op.path} → ${res.status} ${res.body.slice(0, 300)}`);
    }
    expect(wrong).toEqual([]);
  });
});
