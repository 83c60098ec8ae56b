/**
 * Root-cause analysis on pinned outages of every family of the outage suite (test/rca/scenarios.ts; the whole
 * suite, through the real pipeline, is bench/rca/run.ts): the culprit is ranked first, its tag value (or its
 * metric's label) is named among the first five, and the first suspect's explanation gives the evidence that
 * put it there. The rows go straight into the test's database (with the rollups the writer would count), so the
 * test measures the analysis, not ingest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyse } from '../../services/incidents/analysis/run.ts';
import type { IncidentRow } from '../../services/incidents/store.ts';
import { insertEventsWithRollups } from '../helpers/rollup-rows.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { insertSamples } from '../helpers/rows.ts';
import { FAMILIES, generate, judge, prng, type Family, type Scenario } from './scenarios.ts';

const HOUR_MS = 3_600_000;
const EVENTS_PER_MINUTE = 12;
/** Seeds pinned per family: the suite's first two. */
const SEEDS = [1, 2];

describe('root-cause analysis on the outage suite', () => {
  let ctx: TestContext;
  const scenarios: Scenario[] = [];

  beforeAll(async () => {
    ctx = await createTestContext();
    const newest = Math.floor((Date.now() - HOUR_MS) / 60_000) * 60_000;
    for (const seed of SEEDS) {
      for (const family of FAMILIES)
        scenarios.push(generate(family, seed, newest - scenarios.length * 3 * HOUR_MS, EVENTS_PER_MINUTE));
    }
    for (const s of scenarios) {
      await insertEventsWithRollups(ctx.db, s.events);
      await insertSamples(ctx.db, s.samples);
    }
  }, 180_000);
  afterAll(() => ctx?.cleanup());

  const analysed = async (s: Scenario) => {
    const incident = {
      id: crypto.randomUUID(),
      started_at: new Date(s.startMs),
      sources: s.scope?.sources ?? [],
      tags: {},
    };
    return analyse(ctx.db, incident as unknown as IncidentRow, 'request');
  };

  it.each(FAMILIES.flatMap((family) => SEEDS.map((seed) => [family, seed] as [Family, number])))(
    '%s #%d: the culprit first, its tag value named, the evidence in words',
    async (family, seed) => {
      const s = scenarios.find((x) => x.family === family && x.seed === seed)!;
      const { suspects } = await analysed(s);
      const verdict = judge(s, suspects);
      expect(
        verdict,
        `ranked ${suspects
          .slice(0, 3)
          .map((x) => `${x.kind} ${x.name}`)
          .join(' | ')}`,
      ).toMatchObject({ top1: true, tagNamed: true });
      const top = suspects[0];
      expect(top.evidence.explanation).toMatch(
        top.kind === 'metric' ? /left its baseline/ : /error ratio .* against .* \(z [\d.]+\)/,
      );
      if (family === 'metric-cause') expect(top).toMatchObject({ kind: 'metric', evidence: { source: s.culprit } });
      if (family === 'scoped') {
        // Scoped to a victim, the origin outside the scope is still named first, as upstream of it.
        const culprit = suspects.find((x) => x.kind === 'source' && x.name === s.culprit)!;
        expect(culprit.evidence.in_scope).toBe(true);
        expect(culprit.evidence.explanation).toContain(
          `outside the incident's declared sources, but upstream of ${s.victims[0]}`,
        );
      }
      for (const v of s.victims) {
        const victim = suspects.find((x) => x.kind === 'source' && x.name === v);
        if (victim) expect(victim.evidence.downstream as number).toBeGreaterThan(0);
      }
    },
  );

  it('takes an alert that went pending on a source before its errors as the start of its trouble', async () => {
    const start = Math.floor((Date.now() - 200 * HOUR_MS) / 60_000) * 60_000;
    const events = [];
    for (let m = -150; m < 0; m++) {
      for (const source of ['orders', 'billing']) {
        for (let i = 0; i < 10; i++) {
          const failing = m >= -10 && i < (source === 'orders' ? 4 : 2);
          events.push({
            timestamp: start + m * 60_000 + i * 5000 + (source === 'orders' ? 0 : 2000),
            source,
            level: failing ? 'error' : 'info',
            message: 'x',
          });
        }
      }
    }
    await insertEventsWithRollups(ctx.db, events);
    const activeAt = new Date(start - 14 * 60_000);
    await ctx.db.query(
      `INSERT INTO alert_transitions (rule_id, rule_name, fingerprint, labels, from_state, to_state, value, active_at,
         at)
       VALUES ($1, 'BillingLatency', 'f1', '{"source": "billing"}', 'inactive', 'pending', 2.5, $2, $2)`,
      [crypto.randomUUID(), activeAt],
    );
    const { suspects } = await analyse(
      ctx.db,
      { id: crypto.randomUUID(), started_at: new Date(start), sources: [] } as unknown as IncidentRow,
      'request',
    );
    expect(suspects.filter((x) => x.kind === 'source').map((x) => x.name)).toEqual(['billing', 'orders']);
    expect(suspects[0].evidence).toMatchObject({ onset: activeAt.toISOString(), downstream: 0 });
    expect(suspects[0].evidence.explanation).toContain(
      '(alert BillingLatency moved first), the earliest of the suspects',
    );
    expect(suspects[1].evidence.explanation).toContain("its trouble began after billing's");
  });

  it('names the service of the deepest failing span of failing traces though its callers log more errors', async () => {
    const start = Math.floor((Date.now() - 250 * HOUR_MS) / 60_000) * 60_000;
    const events: Parameters<typeof insertEventsWithRollups>[1] = [];
    for (let m = -150; m < 0; m++) {
      for (const source of ['frontend', 'cart', 'pricing']) {
        for (let i = 0; i < 10; i++)
          events.push({ timestamp: start + m * 60_000 + i * 5000, source, level: 'info', message: 'ok' });
      }
    }
    // From 8 minutes before: each failing trace fails in pricing (the deepest span), then cart, then frontend;
    // cart and frontend also log errors of their own (retries), so they are louder than pricing.
    for (let n = 0; n < 40; n++) {
      const t = start - 8 * 60_000 + n * 10_000;
      const trace = `${n.toString(16).padStart(32, '0')}`;
      const span = (source: string, id: string, parent: string | null, at: number) =>
        events.push({
          timestamp: at,
          event_type: 'trace',
          source,
          level: 'error',
          message: 'span',
          tags: {
            trace_id: trace,
            span_id: id.padStart(16, '0'),
            ...(parent ? { parent_span_id: parent.padStart(16, '0') } : {}),
          },
        });
      span('frontend', `f${n}`, null, t);
      span('cart', `c${n}`, `f${n}`, t + 5);
      span('pricing', `p${n}`, `c${n}`, t + 10);
      for (const source of ['frontend', 'cart'])
        events.push({ timestamp: t + 500, source, level: 'error', message: 'retry failed' });
    }
    await insertEventsWithRollups(ctx.db, events);
    const { suspects } = await analyse(
      ctx.db,
      { id: crypto.randomUUID(), started_at: new Date(start), sources: [] } as unknown as IncidentRow,
      'request',
    );
    const sources = suspects.filter((x) => x.kind === 'source');
    expect(sources.map((x) => x.name)).toEqual(['pricing', expect.any(String), expect.any(String)]);
    expect(sources[0].evidence).toMatchObject({
      deepest_failing_spans: 40,
      downstream: 0,
      origin: 1,
      shared_failing_requests: 40,
    });
    expect(sources[0].evidence.explanation).toContain('the deepest failing span in 40 of 40 failing traces');
    const cart = sources.find((x) => x.name === 'cart')!;
    expect(cart.evidence).toMatchObject({ downstream: 1, deepest_failing_spans: 0 });
    expect(cart.evidence.explanation).toContain('logged after pricing on 40 of 40 failing requests they share');
    expect(sources.find((x) => x.name === 'frontend')!.evidence).toMatchObject({ downstream: 1, origin: 0 });
  });

  it('generates the same outage from the same seed, and a different one from another', () => {
    const a = generate('deploy', 3, 1_800_000_000_000, 5);
    expect(generate('deploy', 3, 1_800_000_000_000, 5)).toEqual(a);
    expect(
      generate('deploy', 4, 1_800_000_000_000, 5).culprit === a.culprit &&
        generate('deploy', 4, 1_800_000_000_000, 5).events.length === a.events.length,
    ).toBe(false);
    expect(a.events.filter((e) => e.tags.deploy === 'v2.0.0')).toEqual([
      expect.objectContaining({ source: a.culprit, level: 'info' }),
    ]);
    expect(prng(1)()).toBe(prng(1)());
  });
});
