/**
 * The incidents worker when PostgreSQL refuses its work: a round whose inbox step fails leaves the transition in the
 * inbox and applies it at the next poll (once); an automatic analysis that fails is not retried forever — the
 * incident gets a timeline entry saying why and how to ask again, and asking again works once the cause is gone.
 * The worker's metrics count each outcome. The failures are real: a table the step reads is renamed away.
 */
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { countRows, createTestContext, type TestContext } from '../../test/helpers/context.ts';
import type { IncidentsHandle } from './index.ts';

const BASE = '/api/v1/monitoring/incidents';

describe('incidents worker failures', () => {
  let ctx: TestContext;
  let api: Runtime;
  let worker: IncidentsHandle['worker'];

  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const { values } = await api.registry.getSingleMetric(name)!.get();
    return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    // The timer never fires during the test: every round is the test's own poll().
    api = await ctx.start('query', { INCIDENTS_POLL_MS: '600000' });
    worker = (api.roles.find((r) => r.name === 'incidents') as IncidentsHandle).worker;
  });
  afterAll(() => ctx?.cleanup());

  it('keeps a transition in the inbox while its round fails and applies it once at the next poll', async () => {
    const ruleId = uuidv4();
    await ctx.db.query(
      `INSERT INTO alert_rules (id, name, query, severity) VALUES ($1, 'Disk full', 'disk_used > 90', 'critical')`,
      [ruleId],
    );
    await worker.poll(); // nothing yet
    await ctx.db.query('ALTER TABLE incident_transitions RENAME TO incident_transitions_away');
    await ctx.db.query(
      `INSERT INTO alert_transitions (rule_id, rule_name, fingerprint, labels, from_state, to_state, value, active_at,
         at)
       VALUES ($1, 'Disk full', 'fp-disk', '{"host":"db-1"}', 'pending', 'firing', 97, now(), now())`,
      [ruleId],
    );
    await worker.poll();
    expect(await metric('vigil_incidents_worker_failures_total')).toBe(1);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_inbox')).toBe(1);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM incidents')).toBe(0);

    await ctx.db.query('ALTER TABLE incident_transitions_away RENAME TO incident_transitions');
    await worker.poll();
    await worker.poll();
    expect(await metric('vigil_incidents_worker_failures_total')).toBe(1);
    expect(await metric('vigil_incidents_transitions_applied_total')).toBe(1);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM incident_inbox')).toBe(0);
    const { rows } = await ctx.db.query(`SELECT title, severity, status, alert_rule_id, analysis_due FROM incidents`);
    expect(rows).toEqual([
      {
        title: 'Disk full {host="db-1"}',
        severity: 'critical',
        status: 'open',
        alert_rule_id: ruleId,
        analysis_due: false,
      },
    ]);
    // Analysed in the round that opened it.
    expect(await metric('vigil_incidents_analyses_total', { outcome: 'stored' })).toBe(1);
  });

  it('marks a failed automatic analysis in the timeline, not retrying it forever; recompute works after', async () => {
    const created = await api.app.inject({
      method: 'POST',
      url: BASE,
      headers: { authorization: `Bearer ${ctx.token('user', 'oncall')}` },
      payload: { title: 'Checkout slow', severity: 'high', sources: ['api'] },
    });
    expect(created.statusCode, created.body).toBe(201);
    const { id } = created.json().data;
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM incidents WHERE analysis_due')).toBe(1);
    await ctx.db.query('ALTER TABLE rollups RENAME TO rollups_away');
    try {
      await worker.poll();
    } finally {
      await ctx.db.query('ALTER TABLE rollups_away RENAME TO rollups');
    }
    expect(await metric('vigil_incidents_analyses_total', { outcome: 'failed' })).toBe(1);
    expect(await metric('vigil_incidents_analyses_total', { outcome: 'stored' })).toBe(1);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM incidents WHERE analysis_due')).toBe(0);
    const { rows: entries } = await ctx.db.query(
      `SELECT actor, kind, message FROM incident_timeline WHERE incident_id = $1 AND kind = 'analysis'`,
      [id],
    );
    expect(entries).toEqual([
      {
        actor: 'vigil',
        kind: 'analysis',
        message:
          'root-cause analysis failed: relation "rollups" does not exist; ask again with GET …/analysis?recompute=true',
      },
    ]);
    await worker.poll(); // not retried by the worker
    expect(await metric('vigil_incidents_analyses_total', { outcome: 'failed' })).toBe(1);

    const res = await api.app.inject({
      method: 'GET',
      url: `${BASE}/${id}/analysis?recompute=true`,
      headers: { authorization: `Bearer ${ctx.token('user', 'oncall')}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ success: true, data: { incident_id: id } });
  });
});
