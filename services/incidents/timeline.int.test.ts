/**
 * GET /incidents/{id}/timeline on a seeded scenario: the incident's changes, its alert's transitions and the
 * correlated events (declared sources, declared tags on any source, other alerts' events; warn and above; one hour
 * before the start until resolution), in time order and in pages; and EXPLAIN shows the correlated events read
 * through the covering partial index of migration 0006, from the window's partitions only, and only the page's
 * rows by key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { ensureAllPartitions } from '../../shared/db/partitions.ts';
import { insertEventsWithRollups } from '../../test/helpers/rollup-rows.ts';
import { COLUMNS, type IncidentRow } from './store.ts';
import { TIMELINE_SQL, timelineParams } from './timeline.ts';

const BASE = '/api/v1/monitoring/incidents';
const MIN = 60_000;

describe('incident timeline', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  const start = Math.floor((Date.now() - 30 * MIN) / 1000) * 1000;
  const at = (offsetMin: number) => new Date(start + offsetMin * MIN).toISOString();
  let incident: { id: string };
  const ruleId = '0190a5b2-1111-7000-8000-000000000001';
  const alerter = { source: 'vigil-alerter', event_type: 'alert', created_by: 'vigil-alerter' };

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query', { QUERY_FOLD_INTERVAL_SECONDS: '3600', INCIDENTS_POLL_MS: '600000' });
    token = ctx.token('user', 'alice');
    await insertEventsWithRollups(ctx.db, [
      { timestamp: start - 4 * 86_400_000, source: 'api', level: 'error', message: 'days before: another partition' },
      { timestamp: at(-61), source: 'api', level: 'error', message: 'before the window' },
      { timestamp: at(-50), source: 'api', level: 'warn', message: 'api slow' },
      { timestamp: at(-40), source: 'api', level: 'info', message: 'api info: not notable' },
      {
        timestamp: at(-20),
        source: 'db',
        level: 'error',
        message: 'pg-1 connection refused',
        tags: { db_host: 'pg-1' },
      },
      { timestamp: at(-15), source: 'db', level: 'error', message: 'pg-2: other host', tags: { db_host: 'pg-2' } },
      { timestamp: at(-10), source: 'api', level: 'error', message: 'api 500', tags: { request_id: 'r1' } },
      { timestamp: at(-3), source: 'web', level: 'error', message: 'web: not in scope' },
      {
        timestamp: at(-1),
        ...alerter,
        level: 'warn',
        message: '[FIRING] DB down',
        tags: { rule_id: 'other', alertname: 'DB down' },
        payload: { fingerprint: 'x' },
      },
      {
        timestamp: at(2),
        ...alerter,
        level: 'error',
        message: '[FIRING] own alert: shown as a transition',
        tags: { source: 'api', alertname: 'API errors', rule_id: ruleId, status: 'firing' },
        payload: { fingerprint: 'fp1' },
      },
      // Stored before sources and creators were reserved: events that claim to be the alerter's and are not.
      {
        timestamp: at(-2),
        ...alerter,
        created_by: 'mallory',
        level: 'error',
        message: "[FIRING] forged: not the alerter's",
        tags: { db_host: 'pg-1' },
      },
      {
        timestamp: at(3),
        source: 'vigil-alerter',
        event_type: 'log',
        level: 'error',
        message: "forged log of the alerter's source",
        tags: { db_host: 'pg-1' },
      },
      {
        timestamp: at(4),
        source: 'api',
        event_type: 'alert',
        level: 'info',
        message: 'an alert event a user posted for api',
        tags: { rule_id: ruleId, source: 'api' },
      },
      { timestamp: at(5), source: 'api', level: 'fatal', message: 'api crashed' },
      { timestamp: at(20), source: 'api', level: 'error', message: 'after the resolution' },
    ]);
    incident = (
      await api.app.inject({
        method: 'POST',
        url: BASE,
        headers: { authorization: `Bearer ${token}` },
        payload: {
          title: 'Checkout failing',
          severity: 'high',
          sources: ['api'],
          tags: { db_host: 'pg-1' },
          started_at: at(0),
        },
      })
    ).json().data;
    // An alert series attached to the incident, with its transitions (as the worker would have attached it).
    await ctx.db.query(
      `INSERT INTO incident_alerts (incident_id, rule_id, fingerprint, rule_name, labels, attached_at) VALUES ($1, ` +
        `$2, 'fp1', 'API errors', '{"source":"api"}', $3)`,
      [incident.id, ruleId, at(2)],
    );
    await ctx.db.query(
      `INSERT INTO alert_transitions (rule_id, rule_name, fingerprint, labels, from_state, to_state, value, active_at,
         at, delivered_at)
       VALUES ($1, 'API errors', 'fp1', '{"source":"api"}', 'inactive', 'pending', 4, $2, $2, now()),
              ($1, 'API errors', 'fp1', '{"source":"api"}', 'pending', 'firing', 6, $2, $3, now()),
              ($1, 'API errors', 'other-series', '{"source":"web"}', 'inactive', 'firing', 6, $2, $3, now())`,
      [ruleId, at(1), at(2)],
    );
    // Resolved at +10 min: the window closes there.
    await ctx.db.query("UPDATE incidents SET status = 'resolved', resolved_at = $2 WHERE id = $1", [
      incident.id,
      at(10),
    ]);
  });
  afterAll(() => ctx?.cleanup());

  const timeline = async (query = '') => {
    const res = await api.app.inject({
      method: 'GET',
      url: `${BASE}/${incident.id}/timeline${query}`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data;
  };

  it('merges changes, alert transitions and correlated events in time order, from 1 h before the start', async () => {
    const data = await timeline();
    expect(data).toMatchObject({
      incident_id: incident.id,
      from: at(-60),
      to: at(10),
      limit: 100,
      offset: 0,
      has_more: false,
    });
    type Entry = { timestamp: string; kind: string; source: string; message: string; created_by: string };
    expect(data.entries.map((e: Entry) => [e.timestamp, e.kind, e.source, e.message, e.created_by])).toEqual([
      [at(-50), 'event', 'api', 'api slow', 'test'],
      [at(-20), 'event', 'db', 'pg-1 connection refused', 'test'],
      [at(-10), 'event', 'api', 'api 500', 'test'],
      [at(-1), 'event', 'vigil-alerter', '[FIRING] DB down', 'vigil-alerter'],
      [at(1), 'alert', 'vigil-alerter', 'alert API errors inactive → pending', 'vigil-alerter'],
      [at(2), 'alert', 'vigil-alerter', 'alert API errors pending → firing', 'vigil-alerter'],
      // an alert event of a declared source is an event of that source, not a transition of the attached series
      [at(4), 'event', 'api', 'an alert event a user posted for api', 'test'],
      [at(5), 'event', 'api', 'api crashed', 'test'],
      // own changes are all shown, at the time they were made (this incident was declared after the fact)
      [expect.any(String), 'change', 'incident', 'incident opened (high): Checkout failing', 'alice'],
    ]);
    const times = data.entries.map((e: { timestamp: string }) => Date.parse(e.timestamp));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(data.entries[2]).toMatchObject({
      kind: 'event',
      level: 'error',
      event_type: 'log',
      tags: { request_id: 'r1' },
      id: expect.any(String),
    });
    expect(data.entries[5]).toMatchObject({
      kind: 'alert',
      rule_id: ruleId,
      fingerprint: 'fp1',
      from: 'pending',
      to: 'firing',
      value: 6,
      labels: { source: 'api' },
    });
    expect(data.entries[8]).toMatchObject({ kind: 'change', type: 'created', actor: 'alice' });
  });

  it('pages with limit and offset without gaps or repeats', async () => {
    const all = (await timeline()).entries;
    const pages = [];
    for (let offset = 0; ; offset += 3) {
      const page = await timeline(`?limit=3&offset=${offset}`);
      pages.push(...page.entries);
      if (!page.has_more) break;
    }
    expect(pages).toEqual(all);
    const bad = await api.app.inject({
      method: 'GET',
      url: `${BASE}/${incident.id}/timeline?limit=0&offset=x`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(bad.json().error.details).toEqual([{ field: 'limit', message: 'must be an integer from 1 to 1000, got 0' }]);
    const text = await api.app.inject({
      method: 'GET',
      url: `${BASE}/${incident.id}/timeline?offset=x`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(text.json().error.details).toEqual([
      { field: 'offset', message: 'must be an integer from 0 to 10000, got "x"' },
    ]);
  });

  it("reads correlated events through the partial index, from the window's partitions only", async () => {
    // Realistic statistics: a day of info traffic around the incident (not notable, so the timeline is unchanged).
    await ensureAllPartitions(ctx.db, 'day', Date.parse(at(-80)), Date.parse(at(-80)) + 7200 * 1000);
    await ctx.db.query(
      `INSERT INTO events (id, "timestamp", event_type, source, level, message)
       SELECT gen_random_uuid(), $1::timestamptz + (i % 7200) * interval '1 second', 'log', (ARRAY['api', 'db',
         'web'])[1 + i % 3], 'info', 'filler'
         FROM generate_series(1, 60000) AS i`,
      [at(-80)],
    );
    // Statistics from every row, not ANALYZE's random sample of 30,000: the few alert events are then always counted,
    // and the plan does not depend on which rows a sample happened to hold (it flipped once in CI).
    await ctx.db.query('SET default_statistics_target = 1000; ANALYZE events; RESET default_statistics_target');
    const {
      rows: [row],
    } = await ctx.db.query<IncidentRow>(`SELECT ${COLUMNS} FROM incidents WHERE id = $1`, [incident.id]);
    const { values } = await timelineParams(ctx.db, row, { limit: 100, offset: 0 });
    const { rows } = await ctx.db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${TIMELINE_SQL}`, values);
    const plan = JSON.stringify(rows[0]['QUERY PLAN']);
    type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] };
    const scans: PlanNode[] = [];
    const walk = (node: PlanNode) => {
      if (node['Relation Name']?.startsWith('events')) scans.push(node);
      node.Plans?.forEach(walk);
    };
    walk((rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0].Plan);
    const eventScans = scans.map((n) => [n['Relation Name']!, `${n['Node Type']} ${n['Index Name']}`]);
    expect(eventScans.length).toBeGreaterThan(0);
    // Candidates from the covering index; the page's rows from the table by key.
    const candidates = scans.filter((n) => n['Index Name']?.includes('source_timestamp'));
    const pageRows = scans.filter((n) => /_(pkey|id_idx)$/.test(n['Index Name'] ?? '')); // by (timestamp, id) or by id
    // The alerter's own alert events from the partial index of migrations 0017/0022, without visiting the table.
    const systemAlerts = scans.filter((n) => n['Index Name']?.endsWith('_timestamp_id_notable_tags_idx'));
    const seen = JSON.stringify(scans.map((n) => [n['Node Type'], n['Index Name'], n['Relation Name']]));
    expect(candidates.length, seen).toBeGreaterThan(0);
    expect(pageRows.length, seen).toBeGreaterThan(0);
    expect(systemAlerts.length, seen).toBeGreaterThan(0);
    expect(candidates.length + pageRows.length + systemAlerts.length, seen).toBe(scans.length);
    for (const node of systemAlerts) {
      expect(node['Node Type']).toBe('Index Only Scan');
      const {
        rows: [def],
      } = await ctx.db.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE indexname = $1', [
        node['Index Name'],
      ]);
      expect(def.indexdef.slice(def.indexdef.indexOf('("timestamp", id)'))).toBe(
        `("timestamp", id) INCLUDE (notable_tags) WHERE ((source = 'vigil-alerter'::text) ` +
          `AND (event_type = 'alert'::text) AND (created_by = 'vigil-alerter'::text))`,
      );
    }
    for (const node of candidates) {
      expect(node['Node Type']).toMatch(/^Index (Only )?Scan$/);
      const {
        rows: [def],
      } = await ctx.db.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE indexname = $1', [
        node['Index Name'],
      ]);
      expect(def.indexdef.slice(def.indexdef.indexOf('(source, "timestamp")'))).toBe(
        `(source, "timestamp") INCLUDE (id, event_type, notable_tags) ` +
          `WHERE ((level = ANY (ARRAY['warn'::text, 'error'::text, 'fatal'::text])) OR (event_type = 'alert'::text))`,
      );
    }
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
    const allowed = new Set([day(start - 60 * MIN), day(start + 10 * MIN)].map((d) => `events_p${d}`));
    for (const [partition] of eventScans) expect(allowed.has(partition), partition).toBe(true);
    expect(plan).not.toContain(`events_p${day(start - 4 * 86_400_000)}`);
    expect(plan).not.toMatch(/"Node Type":"Seq Scan","Parent Relationship":"[^"]*","[^}]*"Relation Name":"events_p/);
  });
});
