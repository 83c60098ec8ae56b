/**
 * The incident API against a real PostgreSQL (query role in-process): lifecycle with invalid transitions, the
 * timeline of changes, visibility per role (a user never learns of another's incident), validation, list
 * filters and pages, and open_incidents in /stats.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { STATUSES, allowedNext, type Status } from './lifecycle.ts';

const BASE = '/api/v1/monitoring/incidents';

describe('incident API', () => {
  let ctx: TestContext;
  let api: Runtime;
  const alice = 'alice';
  const bob = 'bob';
  const carol = 'carol';

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query', { QUERY_FOLD_INTERVAL_SECONDS: '3600', INCIDENTS_POLL_MS: '100000' });
  });
  afterAll(() => ctx?.cleanup());

  const call = (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: unknown) =>
    api.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const as = (sub: string, role: 'user' | 'moderator' | 'admin' = 'user') => ctx.token(role, sub);

  it("creates an incident with the contract's fields and created_by from the token", async () => {
    const res = await call('POST', BASE, as(alice), {
      title: 'API Response Time Degradation',
      description: 'Average response time increased to 2+ seconds',
      severity: 'high',
      assigned_to: carol,
      sources: ['api', 'db'],
      tags: { region: 'eu' },
    });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body).toEqual({
      success: true,
      data: {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        title: 'API Response Time Degradation',
        description: 'Average response time increased to 2+ seconds',
        severity: 'high',
        status: 'open',
        allowed_transitions: ['investigating', 'identified', 'monitoring', 'resolved'],
        root_cause: null,
        assigned_to: carol,
        created_by: alice,
        sources: ['api', 'db'],
        tags: { region: 'eu' },
        alert: null,
        started_at: expect.any(String),
        resolved_at: null,
        closed_at: null,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      },
    });
    expect(body.data.started_at).toBe(body.data.created_at);
  });

  it('walks the lifecycle, refuses bad transitions with 409 naming the allowed ones, stamps resolved_at', async () => {
    const { data: incident } = (
      await call('POST', BASE, as(alice), { title: 'Checkout errors', severity: 'medium' })
    ).json();
    const put = (body: unknown, who = as(alice)) => call('PUT', `${BASE}/${incident.id}`, who, body);

    const closing = await put({ status: 'closed' });
    expect(closing.statusCode).toBe(409);
    expect(closing.json()).toEqual({
      success: false,
      error: {
        code: 'VIGIL_ERR_INVALID_TRANSITION',
        message:
          'an incident cannot move from open to closed; from open it may move to investigating, identified, ' +
          'monitoring, resolved',
        details: { from: 'open', to: 'closed', allowed: ['investigating', 'identified', 'monitoring', 'resolved'] },
      },
    });

    expect((await put({ status: 'investigating' })).json().data.status).toBe('investigating');
    const identified = (
      await put({ status: 'identified', root_cause: 'Database connection pool exhaustion', severity: 'critical' })
    ).json().data;
    expect(identified).toMatchObject({
      status: 'identified',
      root_cause: 'Database connection pool exhaustion',
      severity: 'critical',
      resolved_at: null,
    });
    const back = await put({ status: 'open' });
    expect(back.statusCode).toBe(409);
    expect(back.json().error.details.allowed).toEqual(['investigating', 'monitoring', 'resolved']);
    expect((await put({ status: 'monitoring' })).json().data.status).toBe('monitoring');

    const resolved = (await put({ status: 'resolved' })).json().data;
    expect(resolved.status).toBe('resolved');
    expect(Date.parse(resolved.resolved_at)).toBeGreaterThanOrEqual(Date.parse(identified.updated_at));
    // same status: no-op
    expect((await put({ status: 'resolved' })).json().data.resolved_at).toBe(resolved.resolved_at);
    expect((await put({ status: 'monitoring' })).statusCode).toBe(409);

    const closed = (await put({ status: 'closed' })).json().data;
    expect(closed).toMatchObject({
      status: 'closed',
      resolved_at: resolved.resolved_at,
      closed_at: expect.any(String),
    });
    const reopened = (await put({ status: 'investigating' }, as('mod', 'moderator'))).json().data;
    expect(reopened).toMatchObject({ status: 'investigating', resolved_at: null, closed_at: null });

    const timeline = (await call('GET', `${BASE}/${incident.id}/timeline`, as(alice))).json().data;
    const changes = timeline.entries.filter((e: { kind: string }) => e.kind === 'change');
    expect(changes.map((e: { type: string; actor: string; message: string }) => [e.type, e.actor, e.message])).toEqual([
      ['created', alice, 'incident opened (medium): Checkout errors'],
      ['status', alice, 'status open → investigating'],
      ['status', alice, 'status investigating → identified'],
      ['severity', alice, 'severity medium → critical'],
      ['root_cause', alice, 'root_cause none → Database connection pool exhaustion'],
      ['status', alice, 'status identified → monitoring'],
      ['status', alice, 'status monitoring → resolved'],
      ['status', alice, 'status resolved → closed'],
      ['status', 'mod', 'reopened: status closed → investigating'],
    ]);
    const times = changes.map((e: { timestamp: string }) => Date.parse(e.timestamp));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(changes[3].details).toEqual({ field: 'severity', from: 'medium', to: 'critical' });
  });

  it('shows a user only the incidents they created or are assigned; others get the 404 of a missing id', async () => {
    const mine = (
      await call('POST', BASE, as(bob), { title: "Bob's incident", severity: 'low', assigned_to: carol })
    ).json().data;
    const missing = '0190a5b2-0000-7000-8000-000000000000';
    for (const [method, suffix, body] of [
      ['GET', '', undefined],
      ['PUT', '', { status: 'investigating' }],
      ['GET', '/timeline', undefined],
      ['GET', '/analysis', undefined],
    ] as const) {
      const hidden = await call(method, `${BASE}/${mine.id}${suffix}`, as(alice), body);
      const absent = await call(method, `${BASE}/${missing}${suffix}`, as(alice), body);
      expect(hidden.statusCode, `${method} ${suffix}`).toBe(404);
      expect(hidden.json().error.message.replace(mine.id, 'ID')).toBe(
        absent.json().error.message.replace(missing, 'ID'),
      );
      expect(hidden.json().error.code).toBe('VIGIL_ERR_NOT_FOUND');
    }
    expect((await call('GET', `${BASE}/${mine.id}`, as(alice, 'user'))).statusCode).toBe(404);
    expect((await call('GET', `${BASE}/${mine.id}`, as(bob))).statusCode).toBe(200);
    // the assignee sees and updates it
    expect((await call('PUT', `${BASE}/${mine.id}`, as(carol), { status: 'investigating' })).json().data.status).toBe(
      'investigating',
    );
    // moderator and admin see everything
    expect((await call('GET', `${BASE}/${mine.id}`, as('m', 'moderator'))).statusCode).toBe(200);
    expect(
      (await call('PUT', `${BASE}/${mine.id}`, as('a', 'admin'), { assigned_to: null })).json().data.assigned_to,
    ).toBeNull();
    expect((await call('GET', `${BASE}/${mine.id}`, as(carol))).statusCode).toBe(404); // no longer assigned

    const titles = async (token: string, query = '') =>
      (await call('GET', `${BASE}${query}`, token))
        .json()
        .data.map((i: { title: string }) => i.title)
        .sort();
    expect(await titles(as(alice))).toEqual(['API Response Time Degradation', 'Checkout errors']);
    expect(await titles(as(bob))).toEqual(["Bob's incident"]);
    expect(await titles(as(carol))).toEqual(['API Response Time Degradation']);
    expect(await titles(as('nobody'))).toEqual([]);
    expect(await titles(as('m', 'moderator'))).toEqual([
      'API Response Time Degradation',
      "Bob's incident",
      'Checkout errors',
    ]);
  });

  it('filters and pages the list', async () => {
    const mod = as('m', 'moderator');
    const list = async (query: string) => (await call('GET', `${BASE}${query}`, mod)).json();
    expect((await list('?status=investigating')).data.map((i: { title: string }) => i.title).sort()).toEqual([
      "Bob's incident",
      'Checkout errors',
    ]);
    expect((await list('?severity=high,low')).data.map((i: { severity: string }) => i.severity).sort()).toEqual([
      'high',
      'low',
    ]);
    expect((await list(`?assigned_to=${carol}`)).data.map((i: { title: string }) => i.title)).toEqual([
      'API Response Time Degradation',
    ]);
    expect((await list('?start_time=2000-01-01T00:00:00Z&end_time=2001-01-01T00:00:00Z')).data).toEqual([]);
    const first = await list('?limit=2');
    const second = await list('?limit=2&offset=2');
    expect(first).toMatchObject({ limit: 2, offset: 0, has_more: true });
    expect(second).toMatchObject({ limit: 2, offset: 2, has_more: false });
    const all = [...first.data, ...second.data].map((i: { id: string }) => i.id);
    expect(new Set(all).size).toBe(3);
    const started = [...first.data, ...second.data].map((i: { started_at: string }) => Date.parse(i.started_at));
    expect([...started].sort((a, b) => b - a)).toEqual(started);
  });

  it('answers 400 with every problem at once', async () => {
    const res = await call('POST', BASE, as(alice), {
      severity: 'urgent',
      assigned_to: '',
      colour: 'red',
      sources: 'api',
      started_at: 'yesterday',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details).toEqual([
      {
        field: 'colour',
        message: 'is not a known field (known: title, description, severity, assigned_to, sources, tags, started_at)',
      },
      { field: 'title', message: 'is required' },
      { field: 'severity', message: 'must be one of low, medium, high, critical, got "urgent"' },
      { field: 'assigned_to', message: 'must be a non-empty string of at most 255 characters (or null to clear it)' },
      {
        field: 'sources',
        message: 'must be an array of at most 50 event sources (non-empty strings of at most 255 characters)',
      },
      {
        field: 'started_at',
        message: 'must be an ISO 8601 date-time with a zone, not in the future and within the last year',
      },
    ]);
    const { data } = (await call('POST', BASE, as(alice), { title: 'x', severity: 'low' })).json();
    const empty = await call('PUT', `${BASE}/${data.id}`, as(alice), {});
    expect(empty.json().error.details).toEqual([
      {
        field: '(body)',
        message:
          'must change at least one of title, description, severity, status, root_cause, assigned_to, sources, tags',
      },
    ]);
    const bad = await call('PUT', `${BASE}/${data.id}`, as(alice), { status: 'done', created_by: 'me' });
    expect(bad.json().error.details.map((d: { field: string }) => d.field)).toEqual(['created_by', 'status']);
    // A query string's schema answers its first problem (bodies list every one, above).
    expect((await call('GET', `${BASE}?status=opened&limit=0`, as(alice))).json().error.details).toEqual([
      {
        field: 'status',
        message:
          'must be one or a comma list of open, investigating, identified, monitoring, resolved, closed, got "opened"',
      },
    ]);
    expect((await call('GET', `${BASE}?limit=0`, as(alice))).json().error.details).toEqual([
      { field: 'limit', message: 'must be an integer from 1 to 200, got 0' },
    ]);
    expect((await call('GET', `${BASE}/not-a-uuid`, as(alice))).statusCode).toBe(404);
  });

  it('lists the incident routes in the OpenAPI document', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/docs/openapi.json' })).json();
    expect(doc.paths['/api/v1/monitoring/incidents'].post.summary).toBe('Open an incident');
    expect(doc.paths['/api/v1/monitoring/incidents/{id}'].put.summary).toBe('Update an incident');
    expect(doc.paths['/api/v1/monitoring/incidents/{id}/timeline'].get.summary).toBe('Incident timeline');
    const analysis = doc.paths['/api/v1/monitoring/incidents/{id}/analysis'].get;
    expect(analysis.summary).toBe('Root-cause analysis');
    const data = analysis.responses['200'].content['application/json'].schema.properties.data.properties;
    expect(data.first_errors.items.properties.trace_id).toMatchObject({ type: 'string', nullable: true });
    expect(data.suspects.items.properties.evidence.properties.trace_ids).toMatchObject({ type: 'array', maxItems: 10 });
  });

  it('counts incidents neither resolved nor closed as open_incidents in /stats', async () => {
    const { rows } = await ctx.db.query<{ n: string }>(
      "SELECT count(*) AS n FROM incidents WHERE status NOT IN ('resolved', 'closed')",
    );
    const stats = (await call('GET', '/api/v1/monitoring/stats', as('m', 'moderator'))).json().data;
    expect(stats.open_incidents).toBe(Number(rows[0].n));
    expect(stats.open_incidents).toBe(4);
  });

  // Last: the incidents it opens would change the counts above.
  it('answers allowed_transitions: exactly the moves a PUT then accepts, from every status', async () => {
    const paths: Record<Status, Status[]> = {
      open: [],
      investigating: ['investigating'],
      identified: ['identified'],
      monitoring: ['monitoring'],
      resolved: ['resolved'],
      closed: ['resolved', 'closed'],
    };
    for (const from of STATUSES) {
      for (const to of STATUSES.filter((s) => s !== from)) {
        const { data: incident } = (
          await call('POST', BASE, as(alice), { title: `${from} → ${to}`, severity: 'low' })
        ).json();
        const url = `${BASE}/${incident.id}`;
        for (const step of paths[from])
          expect((await call('PUT', url, as(alice), { status: step })).statusCode).toBe(200);
        const shown = (await call('GET', url, as(alice))).json().data;
        expect(shown.status).toBe(from);
        const moved = await call('PUT', url, as(alice), { status: to });
        expect(moved.statusCode, `${from} → ${to}: ${moved.body}`).toBe(
          shown.allowed_transitions.includes(to) ? 200 : 409,
        );
        if (moved.statusCode === 409) expect(moved.json().error.details.allowed).toEqual(shown.allowed_transitions);
        else expect(moved.json().data.allowed_transitions).toEqual(allowedNext(to));
      }
    }
  });
});
