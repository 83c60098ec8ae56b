/**
 * Root-cause analysis on a seeded scenario whose answer is known: the database source starts failing 20 minutes
 * before the incident, the API 12 minutes before, each failing request logged by both with one request id (the
 * database first); a third source errs at its usual rate; a connection gauge leaves its baseline. The database
 * must rank first, its host tag right below it, the shared request ids must be shown with the database as the
 * first source, and the analysis must be stored and appear in the timeline. The failing requests' events carry
 * trace ids as OTLP log records do (tag `trace_id`; one event without): each suspect source names its earliest.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples, type TestEvent, type TestSample } from '../../test/helpers/rows.ts';
import { insertEventsWithRollups } from '../../test/helpers/rollup-rows.ts';

const BASE = '/api/v1/monitoring/incidents';
const MIN = 60_000;
const traceOf = (requestId: string) => crypto.createHash('md5').update(requestId).digest('hex');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('incident analysis', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  const start = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
  const requestIds: string[] = [];
  let incidentId: string;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query', { QUERY_FOLD_INTERVAL_SECONDS: '3600', INCIDENTS_POLL_MS: '600000' });
    token = ctx.token('user', 'oncall');
    const events: TestEvent[] = [];
    const samples: TestSample[] = [];
    for (let m = -150; m < 0; m++) {
      const t = start + m * MIN;
      for (const source of ['db', 'api', 'web']) {
        for (let i = 0; i < 5; i++)
          events.push({
            timestamp: t + i * 7000,
            source,
            level: 'info',
            message: `${source} ok`,
            tags: { env: 'prod' },
          });
      }
      if (m % 10 === 0)
        events.push({
          timestamp: t + 3000,
          source: 'web',
          level: 'error',
          message: 'web: the usual flaky error',
          tags: { env: 'prod' },
        });
      samples.push({
        timestamp: t,
        name: 'db_connections_in_use',
        metric_type: 'gauge',
        value: m < -22 ? 20 + (m % 3) : 100,
        labels: { pool: 'main', service: 'db' },
      });
      if (m >= -20) {
        for (let i = 0; i < 3; i++) {
          const rid = `req-${m}-${i}`;
          requestIds.push(rid);
          const trace = m === -20 && i === 1 ? {} : { trace_id: traceOf(rid) };
          events.push({
            timestamp: t + i * 10_000,
            source: 'db',
            level: 'error',
            message: 'connection pool exhausted',
            tags: { env: 'prod', db_host: 'pg-1', request_id: rid, ...trace },
          });
          if (m >= -12)
            events.push({
              timestamp: t + i * 10_000 + 150,
              source: 'api',
              level: 'error',
              message: 'POST /checkout 500',
              tags: { env: 'prod', endpoint: '/checkout', request_id: rid, trace_id: traceOf(rid) },
            });
        }
      }
    }
    await insertEventsWithRollups(ctx.db, events);
    await insertSamples(ctx.db, samples);
    const created = await api.app.inject({
      method: 'POST',
      url: BASE,
      headers: { authorization: `Bearer ${token}` },
      payload: {
        title: 'Checkout failing',
        severity: 'critical',
        sources: ['api'],
        started_at: new Date(start).toISOString(),
      },
    });
    incidentId = created.json().data.id;
  });
  afterAll(() => ctx?.cleanup());

  const analysis = async (query = '') => {
    const res = await api.app.inject({
      method: 'GET',
      url: `${BASE}/${incidentId}/analysis${query}`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data;
  };

  it('ranks the database first, its pool gauge and host tag next, the API after, with shared request ids', async () => {
    const result = await analysis();
    const ranked = result.suspects.map((s: { kind: string; name: string }) => `${s.kind} ${s.name}`);
    expect(ranked.slice(0, 3)).toEqual([
      'source db',
      'metric db_connections_in_use{pool="main",service="db"}',
      'tag db: db_host=pg-1',
    ]);
    expect(ranked).toContain('source api');
    expect(ranked.indexOf('source api')).toBeGreaterThan(2);
    expect(ranked.some((r: string) => r.includes('web') || r.includes('env=prod'))).toBe(false);
    const scores = result.suspects.map((s: { score: number }) => s.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);

    const db = result.suspects[0];
    expect(db.evidence).toMatchObject({
      errors_before: 60,
      events_before: 150 + 60,
      errors_baseline: 0,
      events_baseline: 600,
      // its gauge moved two minutes before its errors: that is when its trouble began
      onset: new Date(start - 22 * MIN).toISOString(),
      first_error: {
        source: 'db',
        level: 'error',
        message: 'connection pool exhausted',
        timestamp: new Date(start - 20 * MIN).toISOString(),
      },
      first_in_shared_requests: 20,
      first_in_failing_requests: 36,
      shared_failing_requests: 36,
      downstream: 0,
      origin: 1,
    });
    expect(db.evidence.explanation).toBe(
      'error ratio 28.6% in the 30 minutes before the start against 0% in the 2 hours before (z 101.1); ' +
        `its trouble began at ${new Date(start - 22 * MIN).toISOString().slice(11, 16)} ` +
        `(db_connections_in_use{pool="main",service="db"} moved first), ` +
        'the earliest of the suspects; logged first on 36 of 36 failing requests shared with api; ' +
        "outside the incident's declared sources, but upstream of api",
    );
    expect(db.evidence.shared_request_ids).toHaveLength(10);
    const api = result.suspects.find((s: { name: string }) => s.name === 'api');
    expect(api.evidence).toMatchObject({
      onset: new Date(start - 12 * MIN + 150).toISOString(),
      first_in_shared_requests: 0,
      errors_before: 36,
      downstream: 1,
      origin: 0,
    });
    expect(api.evidence.explanation).toMatch(/; logged after db on 36 of 36 failing requests they share$/);

    // request ids crossing sources (36 failing requests reached the API; the 20 shown), the database first each time
    expect(result.request_ids).toHaveLength(20);
    for (const r of result.request_ids) {
      expect(r).toMatchObject({ sources: ['api', 'db'], first_source: 'db', events: 2, errors: 2 });
      expect(requestIds).toContain(r.request_id);
    }
    expect(result.first_errors).toEqual([
      {
        id: expect.stringMatching(UUID),
        timestamp: new Date(start - 20 * MIN).toISOString(),
        source: 'db',
        level: 'error',
        message: 'connection pool exhausted',
        trace_id: traceOf(requestIds[0]),
      },
      {
        id: expect.stringMatching(UUID),
        timestamp: new Date(start - 12 * MIN + 150).toISOString(),
        source: 'api',
        level: 'error',
        message: 'POST /checkout 500',
        trace_id: traceOf(requestIds[24]),
      },
    ]);
    expect(db.evidence.first_error).toEqual(result.first_errors[0]);
    // The earliest 10 trace ids on each source's errors, in time order; the event without one is passed over.
    expect(db.evidence.trace_ids).toEqual([requestIds[0], ...requestIds.slice(2, 11)].map(traceOf));
    expect(api.evidence.trace_ids).toEqual(requestIds.slice(24, 34).map(traceOf));
    for (const s of result.suspects.filter((x: { kind: string }) => x.kind !== 'source'))
      expect(s.evidence.trace_ids).toBeUndefined();
    const metric = result.suspects.find((s: { kind: string }) => s.kind === 'metric');
    expect(metric.evidence).toMatchObject({
      metric: 'db_connections_in_use',
      labels: { pool: 'main', service: 'db' },
      source: 'db',
    });
  });

  it('stores the analysis, answers it again without recomputing, and shows it in the timeline', async () => {
    const first = await analysis();
    const again = await analysis();
    expect(again).toEqual(first);
    const fresh = await analysis('?recompute=true');
    expect(fresh.id).toBeGreaterThan(first.id);
    expect(fresh.suspects).toEqual(first.suspects);
    const timeline = await api.app.inject({
      method: 'GET',
      url: `${BASE}/${incidentId}/timeline?limit=1000`,
      headers: { authorization: `Bearer ${token}` },
    });
    const entries = timeline.json().data.entries.filter((e: { type?: string }) => e.type === 'analysis');
    expect(entries.map((e: { message: string; actor: string }) => [e.actor, e.message])).toEqual([
      ['oncall', `root-cause analysis: top suspect source db (score ${first.suspects[0].score})`],
      ['oncall', `root-cause analysis: top suspect source db (score ${first.suspects[0].score})`],
    ]);
    const bad = await api.app.inject({
      method: 'GET',
      url: `${BASE}/${incidentId}/analysis?recompute=yes`,
      headers: { authorization: `Bearer ${token}` },
    });
    // The query string's schema answers its first problem, naming the parameter and what is known.
    expect([bad.statusCode, bad.json()]).toEqual([
      400,
      {
        success: false,
        error: {
          code: 'VIGIL_ERR_VALIDATION',
          message: 'recompute: must be one of true, false, got "yes"',
          details: [{ field: 'recompute', message: 'must be one of true, false, got "yes"' }],
        },
      },
    ]);
    const unknown = await api.app.inject({
      method: 'GET',
      url: `${BASE}/${incidentId}/analysis?x=1`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect([unknown.statusCode, unknown.json().error.details]).toEqual([
      400,
      [{ field: 'x', message: 'is not a known parameter (known: recompute)' }],
    ]);
  });

  it("never takes the alerter's source for a suspect, whatever was stored under it", async () => {
    // Stored before the source was reserved: a burst of errors that claims to come from the alerter.
    const forged: TestEvent[] = [];
    for (let m = -25; m < 0; m++) {
      for (let i = 0; i < 4; i++) {
        forged.push({
          timestamp: start + m * MIN + i * 5000,
          source: 'vigil-alerter',
          level: 'error',
          created_by: 'mallory',
          message: 'forged',
          tags: { injected: 'yes', request_id: requestIds[((m + 25) * 3) % requestIds.length] },
        });
      }
    }
    await insertEventsWithRollups(ctx.db, forged);
    const result = await analysis('?recompute=true');
    const named = JSON.stringify([result.suspects, result.first_errors, result.request_ids]);
    expect(named).not.toContain('vigil-alerter');
    expect(named).not.toContain('injected');
    expect(result.suspects[0]).toMatchObject({ kind: 'source', name: 'db' });
  });

  it('answers an analysis stored before trace ids were named with empty trace ids', async () => {
    const current = await analysis();
    const old = structuredClone(current);
    delete old.id;
    for (const e of old.first_errors) delete e.trace_id;
    for (const s of old.suspects.filter((x: { kind: string }) => x.kind === 'source')) {
      delete s.evidence.trace_ids;
      if (s.evidence.first_error) delete s.evidence.first_error.trace_id;
    }
    const later = new Date(Date.parse(current.computed_at) + 1000).toISOString();
    await ctx.db.query(
      'INSERT INTO incident_analyses (incident_id, computed_at, trigger, result) VALUES ($1, $2, $3, $4)',
      [incidentId, later, 'request', JSON.stringify({ ...old, computed_at: later })],
    );
    const stored = await analysis();
    expect(stored.id).toBeGreaterThan(current.id);
    expect(stored.first_errors).toEqual(current.first_errors.map((e: object) => ({ ...e, trace_id: null })));
    const sources = stored.suspects.filter((x: { kind: string }) => x.kind === 'source');
    expect(sources.map((s: { name: string }) => s.name)).toEqual(['db', 'api']);
    for (const s of sources) {
      expect(s.evidence.trace_ids).toEqual([]);
      expect(s.evidence.first_error.trace_id).toBeNull();
    }
    expect(stored.suspects.filter((x: { kind: string }) => x.kind !== 'source')).toEqual(
      current.suspects.filter((x: { kind: string }) => x.kind !== 'source'),
    );
  });
});
