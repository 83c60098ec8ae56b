/**
 * Incidents grouped per rule (INCIDENTS_GROUP_WINDOW_SECONDS): alerts of one rule that fire while its incident is
 * young or still has a firing alert join it as timeline entries; the incident's on-resolve action waits for the
 * last of its alerts; a firing after the window, once every alert resolved, opens a new incident; with the window
 * at 0 every series opens its own. Transitions are written as the alerter writes them (the inbox trigger).
 */
import { v4 as uuidv4 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { countRows, createTestContext, type TestContext } from '../../test/helpers/context.ts';
import type { IncidentsHandle } from './index.ts';

describe('incidents grouped per rule', () => {
  let ctx: TestContext;
  let api: Runtime;
  let worker: IncidentsHandle['worker'];
  let ungrouped: IncidentsHandle['worker'];

  beforeAll(async () => {
    ctx = await createTestContext();
    // The timers never fire during the test: every round is the test's own poll().
    api = await ctx.start('query', { INCIDENTS_POLL_MS: '600000', INCIDENTS_GROUP_WINDOW_SECONDS: '60' });
    worker = (api.roles.find((r) => r.name === 'incidents') as IncidentsHandle).worker;
    const other = await ctx.start('query', { INCIDENTS_POLL_MS: '600000', INCIDENTS_GROUP_WINDOW_SECONDS: '0' });
    ungrouped = (other.roles.find((r) => r.name === 'incidents') as IncidentsHandle).worker;
  });
  afterAll(() => ctx?.cleanup());

  const rule = async (name: string, annotations: Record<string, string> = { incident_on_resolve: 'resolved' }) => {
    const id = uuidv4();
    await ctx.db.query(
      `INSERT INTO alert_rules (id, name, query, severity, annotations) VALUES ($1, $2, 'disk_used > 90', 'high', $3)`,
      [id, name, JSON.stringify(annotations)],
    );
    return id;
  };
  /** One transition per host, at `atMs` (epoch ms). */
  const transitions = async (
    ruleId: string,
    name: string,
    hosts: string[],
    to: 'firing' | 'resolved',
    atMs: number,
  ) => {
    await ctx.db.query(
      `INSERT INTO alert_transitions (rule_id, rule_name, fingerprint, labels, from_state, to_state, value, active_at,
         at)
       SELECT $1, $2, 'fp-' || h, jsonb_build_object('host', h), $3, $4, 97, $5, $5 FROM unnest($6::text[]) AS h`,
      [ruleId, name, to === 'firing' ? 'pending' : 'firing', to, new Date(atMs).toISOString(), hosts],
    );
  };
  const incidentsOf = async (ruleId: string) =>
    (
      await ctx.db.query('SELECT id, title, status FROM incidents WHERE alert_rule_id = $1 ORDER BY started_at, id', [
        ruleId,
      ])
    ).rows;
  const entries = async (incidentId: string) =>
    (
      await ctx.db.query('SELECT kind, message FROM incident_timeline WHERE incident_id = $1 ORDER BY id', [incidentId])
    ).rows.map((r) => `${r.kind}: ${r.message}`);

  it('gathers the alerts of a rule in one incident, resolved when the last of them resolves', async () => {
    const id = await rule('Disk full');
    const t0 = Date.now() - 120_000;
    await transitions(id, 'Disk full', ['a', 'b'], 'firing', t0);
    await transitions(id, 'Disk full', ['c'], 'firing', t0 + 30_000); // within the window
    await worker.poll();
    const [incident] = await incidentsOf(id);
    expect(await incidentsOf(id)).toEqual([{ id: incident.id, title: 'Disk full {host="a"}', status: 'open' }]);
    expect(
      await countRows(
        ctx.db,
        'SELECT count(*) AS n FROM incident_alerts WHERE incident_id = $1 AND resolved_at IS NULL',
        [incident.id],
      ),
    ).toBe(3);

    // Two resolve: the incident stays open; d fires after the window, but c still fires: it joins too.
    await transitions(id, 'Disk full', ['a', 'b'], 'resolved', t0 + 40_000);
    await transitions(id, 'Disk full', ['d'], 'firing', t0 + 90_000);
    await worker.poll();
    expect((await incidentsOf(id)).map((i) => i.status)).toEqual(['open']);
    await transitions(id, 'Disk full', ['c', 'd'], 'resolved', t0 + 100_000);
    await worker.poll();
    expect((await incidentsOf(id)).map((i) => i.status)).toEqual(['resolved']);
    expect((await entries(incident.id)).filter((e) => !e.startsWith('analysis'))).toEqual([
      'created: incident opened (high): Disk full {host="a"}',
      'alert_opened: opened by alert Disk full {host="a"} firing (value 97)',
      'alert_joined: alert Disk full {host="b"} firing (value 97): joined this incident (alerts of one rule are ' +
        'grouped)',
      'alert_joined: alert Disk full {host="c"} firing (value 97): joined this incident (alerts of one rule are ' +
        'grouped)',
      'alert_resolved: alert Disk full {host="a"} resolved; 2 alerts of this incident still firing',
      'alert_resolved: alert Disk full {host="b"} resolved; 1 alert of this incident still firing',
      'alert_joined: alert Disk full {host="d"} firing (value 97): joined this incident (alerts of one rule are ' +
        'grouped)',
      'alert_resolved: alert Disk full {host="c"} resolved; 1 alert of this incident still firing',
      'alert_resolved: alert Disk full {host="d"} resolved',
      'status: status open → resolved (all 4 alerts of the incident resolved; rule annotation ' +
        'incident_on_resolve=resolved)',
    ]);
  });

  it("opens a new incident once the rule's one resolved, or after the window if none of its alerts fires", async () => {
    const id = await rule('Disk full again');
    const t0 = Date.now() - 60_000;
    await transitions(id, 'Disk full again', ['a'], 'firing', t0);
    await worker.poll();
    await transitions(id, 'Disk full again', ['a'], 'resolved', t0 + 1000);
    await transitions(id, 'Disk full again', ['b'], 'firing', t0 + 2000); // the first one resolved: a new one
    await worker.poll();
    expect((await incidentsOf(id)).map((i) => [i.title, i.status])).toEqual([
      ['Disk full again {host="a"}', 'resolved'],
      ['Disk full again {host="b"}', 'open'],
    ]);

    // Without an on-resolve action the incident stays open; a firing within the window joins it, one after the
    // window (no alert of the incident firing any more) opens a new one.
    const quiet = await rule('Quiet', {});
    const t1 = Date.now() - 200_000;
    await transitions(quiet, 'Quiet', ['a'], 'firing', t1);
    await transitions(quiet, 'Quiet', ['a'], 'resolved', t1 + 1000);
    await transitions(quiet, 'Quiet', ['b'], 'firing', t1 + 50_000);
    await transitions(quiet, 'Quiet', ['b'], 'resolved', t1 + 51_000);
    await transitions(quiet, 'Quiet', ['c'], 'firing', t1 + 70_000);
    await worker.poll();
    expect((await incidentsOf(quiet)).map((i) => [i.title, i.status])).toEqual([
      ['Quiet {host="a"}', 'open'],
      ['Quiet {host="c"}', 'open'],
    ]);
  });

  it('opens one incident per series with the window at 0', async () => {
    const single = await rule('Per series');
    await transitions(single, 'Per series', ['a', 'b', 'c'], 'firing', Date.now());
    await ungrouped.poll();
    expect((await incidentsOf(single)).map((i) => i.title).sort()).toEqual([
      'Per series {host="a"}',
      'Per series {host="b"}',
      'Per series {host="c"}',
    ]);
  });
});
