/**
 * The audit log end to end (query and alerter roles in-process): each sensitive action leaves its row with the
 * right actor, role, action and target; refused requests are counted per address (401) or subject (403) into
 * a bounded number of rows however many arrive; GET /audit is for admins only, newest first, with its filters
 * and pages. The flush interval is long so the test flushes when it wants (runtime.audit.flush()).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { MAX_AGGREGATES } from '../shared/audit/audit-log.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';

const AUDIT = '/api/v1/monitoring/audit';

interface AuditJson {
  id: number;
  at: string;
  last_at: string;
  action: string;
  actor: string | null;
  role: string | null;
  ip: string | null;
  target: string | null;
  count: number;
  details: Record<string, unknown>;
}

describe('audit log', () => {
  let ctx: TestContext;
  let api: Runtime;
  let admin: string;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query,alerter', {
      QUERY_FOLD_INTERVAL_SECONDS: '3600',
      INCIDENTS_POLL_MS: '600000',
      AUDIT_FLUSH_INTERVAL_MS: '60000',
    });
    admin = ctx.token('admin', 'root-admin');
  });
  afterAll(() => ctx?.cleanup());

  const call = (
    token: string | undefined,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: object,
    ip = '127.0.0.1',
  ) =>
    api.app.inject({
      method,
      url,
      remoteAddress: ip,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });

  async function audit(query: string): Promise<AuditJson[]> {
    await api.audit.flush();
    const res = await call(admin, 'GET', `${AUDIT}?${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data;
  }

  it('records alert rule create, update and delete with the moderator as actor and the rule as target', async () => {
    const mod = ctx.token('moderator', 'mod-1');
    const created = await call(mod, 'POST', '/api/v1/monitoring/alerts', { name: 'High CPU', query: 'cpu_usage > 80' });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().data.id;
    const updated = await call(mod, 'PUT', `/api/v1/monitoring/alerts/${id}`, {
      query: 'cpu_usage > 90',
      severity: 'high',
    });
    expect(updated.statusCode, updated.body).toBe(200);
    expect((await call(mod, 'DELETE', `/api/v1/monitoring/alerts/${id}`)).statusCode).toBe(200);

    const rows = await audit('actor=mod-1');
    expect(rows.map(({ id: _id, at: _at, last_at: _last, ...rest }) => rest)).toEqual([
      {
        action: 'alert_rule.delete',
        actor: 'mod-1',
        role: 'moderator',
        ip: '127.0.0.1',
        target: id,
        count: 1,
        details: { name: 'High CPU' },
      },
      {
        action: 'alert_rule.update',
        actor: 'mod-1',
        role: 'moderator',
        ip: '127.0.0.1',
        target: id,
        count: 1,
        details: { name: 'High CPU', changed: ['query', 'severity'] },
      },
      {
        action: 'alert_rule.create',
        actor: 'mod-1',
        role: 'moderator',
        ip: '127.0.0.1',
        target: id,
        count: 1,
        details: { name: 'High CPU', query: 'cpu_usage > 80' },
      },
    ]);
    expect(rows[0].at >= rows[1].at && rows[1].at >= rows[2].at).toBe(true);
    // A refused change leaves no action row.
    expect(
      (await call(mod, 'POST', '/api/v1/monitoring/alerts', { name: 'broken', query: 'cpu_usage >' })).statusCode,
    ).toBe(400);
    expect(await audit('actor=mod-1&action=alert_rule.create')).toHaveLength(1);
  });

  it('records incident creation and changes with the user as actor and the incident as target', async () => {
    const alice = ctx.token('user', 'alice');
    const created = await call(alice, 'POST', '/api/v1/monitoring/incidents', {
      title: 'Checkout down',
      severity: 'critical',
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().data.id;
    expect(
      (await call(alice, 'PUT', `/api/v1/monitoring/incidents/${id}`, { status: 'investigating', root_cause: 'db' }))
        .statusCode,
    ).toBe(200);
    const rows = await audit('actor=alice');
    expect(
      rows.map(({ action, actor, role, target, count, details }) => ({ action, actor, role, target, count, details })),
    ).toEqual([
      {
        action: 'incident.update',
        actor: 'alice',
        role: 'user',
        target: id,
        count: 1,
        details: { changed: ['root_cause', 'status'], status: 'investigating' },
      },
      {
        action: 'incident.create',
        actor: 'alice',
        role: 'user',
        target: id,
        count: 1,
        details: { title: 'Checkout down', severity: 'critical' },
      },
    ]);
  });

  it('counts role denials (403) per subject and token failures (401) per address, each burst one row', async () => {
    const bob = ctx.token('user', 'bob');
    for (let i = 0; i < 3; i++) expect((await call(bob, 'GET', '/api/v1/monitoring/stats')).statusCode).toBe(403);
    for (let i = 0; i < 50; i++)
      expect((await call('not.a.token', 'GET', '/api/v1/monitoring/events', undefined, '203.0.113.7')).statusCode).toBe(
        401,
      );
    expect((await call(undefined, 'GET', '/api/v1/monitoring/events', undefined, '198.51.100.9')).statusCode).toBe(401);

    const denied = await audit('action=auth.forbidden&actor=bob');
    expect(
      denied.map(({ action, actor, role, ip, target, count, details }) => ({
        action,
        actor,
        role,
        ip,
        target,
        count,
        details,
      })),
    ).toEqual([
      {
        action: 'auth.forbidden',
        actor: 'bob',
        role: 'user',
        ip: '127.0.0.1',
        target: 'GET /api/v1/monitoring/stats',
        count: 3,
        details: { code: 'VIGIL_ERR_FORBIDDEN' },
      },
    ]);
    const failed = await audit('action=auth.unauthorized');
    const byIp = Object.fromEntries(
      failed.map((r) => [r.ip, { actor: r.actor, target: r.target, count: r.count, details: r.details }]),
    );
    expect(byIp).toEqual({
      '203.0.113.7': {
        actor: null,
        target: 'GET /api/v1/monitoring/events',
        count: 50,
        details: { code: 'VIGIL_ERR_UNAUTHORIZED' },
      },
      '198.51.100.9': {
        actor: null,
        target: 'GET /api/v1/monitoring/events',
        count: 1,
        details: { code: 'VIGIL_ERR_UNAUTHORIZED' },
      },
    });
  });

  it('bounds the rows a flood of bad tokens from many addresses costs', async () => {
    const before = Number(
      (await ctx.db.query(`SELECT count(*) AS n FROM audit_log WHERE action = 'auth.unauthorized'`)).rows[0].n,
    );
    await api.audit.flush();
    const addresses = MAX_AGGREGATES + 200;
    for (let i = 0; i < addresses; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      expect((await call('not.a.token', 'GET', '/api/v1/monitoring/metrics', undefined, ip)).statusCode).toBe(401);
    }
    await api.audit.flush();
    const { rows } = await ctx.db.query<{ n: string; total: string; folded: string }>(
      `SELECT count(*) AS n, sum(count) AS total, sum(count) FILTER (WHERE ip = '*') AS folded
         FROM audit_log WHERE action = 'auth.unauthorized' AND (target = 'GET /api/v1/monitoring/metrics' OR ip = '*')`,
    );
    expect(rows[0]).toEqual({ n: String(MAX_AGGREGATES + 1), total: String(addresses), folded: '200' });
    const after = Number(
      (await ctx.db.query(`SELECT count(*) AS n FROM audit_log WHERE action = 'auth.unauthorized'`)).rows[0].n,
    );
    expect(after - before).toBe(MAX_AGGREGATES + 1);
  });

  it('is readable by admins only: users and moderators get 403 (and are audited for it)', async () => {
    for (const role of ['user', 'moderator'] as const) {
      const res = await call(ctx.token(role, `curious-${role}`), 'GET', AUDIT);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({
        success: false,
        error: { code: 'VIGIL_ERR_FORBIDDEN', message: `this route requires the admin role; your token has ${role}` },
      });
    }
    const rows = await audit('action=auth.forbidden');
    expect(
      rows
        .filter((r) => r.target === `GET ${AUDIT}`)
        .map((r) => [r.actor, r.role])
        .sort(),
    ).toEqual([
      ['curious-moderator', 'moderator'],
      ['curious-user', 'user'],
    ]);
  });

  it('pages newest first with limit/offset/has_more and filters by time range, refusing bad parameters', async () => {
    await api.audit.flush();
    const all = await audit('limit=1000');
    const total = Number((await ctx.db.query('SELECT count(*) AS n FROM audit_log')).rows[0].n);
    expect(all).toHaveLength(Math.min(total, 1000));
    for (let i = 1; i < all.length; i++) expect(all[i - 1].at >= all[i].at).toBe(true);
    const page = await call(admin, 'GET', `${AUDIT}?limit=2&offset=1`);
    expect(page.json()).toEqual({ success: true, data: all.slice(1, 3), limit: 2, offset: 1, has_more: true });
    const oldest = all[all.length - 1];
    const since = await audit(`start_time=${encodeURIComponent(all[1].at)}`);
    expect(since.every((r) => r.at >= all[1].at)).toBe(true);
    expect(since.some((r) => r.id === oldest.id)).toBe(oldest.at >= all[1].at);
    expect(await audit(`end_time=${encodeURIComponent('2000-01-01T00:00:00Z')}`)).toEqual([]);

    // The query string's schema answers its first problem, naming the parameter.
    const unknown = await call(admin, 'GET', `${AUDIT}?action=rule.create&limit=0&who=me`);
    expect([unknown.statusCode, unknown.json().error.details]).toEqual([
      400,
      [
        {
          field: 'who',
          message: 'is not a known parameter (known: action, actor, start_time, end_time, limit, offset)',
        },
      ],
    ]);
    const bad = await call(admin, 'GET', `${AUDIT}?limit=0`);
    expect([bad.statusCode, bad.json().error.details]).toEqual([
      400,
      [{ field: 'limit', message: 'must be an integer from 1 to 1000, got 0' }],
    ]);
  });
});
