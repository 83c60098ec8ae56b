import { describe, expect, it } from 'vitest';
import {
  errorOnset,
  errorZ,
  mergeEdges,
  metricCandidates,
  newVersions,
  rank,
  rankCandidates,
  spanEdges,
  tagSuspects,
  type Candidate,
  type SourceScore,
} from './score.ts';
import type { SourceCounts } from './queries.ts';

const MIN = 60_000;
const start = 1_800_000_000_000;
const counts = (source: string, errorsBefore: number, onsetMin: number, errorsBaseline = 0): SourceCounts => ({
  source,
  events_before: 300,
  errors_before: errorsBefore,
  events_baseline: 1200,
  errors_baseline: errorsBaseline,
  minutes: Array.from(
    { length: -onsetMin },
    (_, i) => [start + (onsetMin + i) * MIN, Math.ceil(errorsBefore / -onsetMin)] as [number, number],
  ),
});
const source = (name: string, z: number, onsetMin: number | null): Candidate => ({
  kind: 'source',
  name,
  source: name,
  z,
  onsetMs: onsetMin === null ? null : start + onsetMin * MIN,
});
const edge = (upstream: string, downstream: string, requests: number) => ({ upstream, downstream, requests });
const order = (ranked: ReturnType<typeof rankCandidates>) =>
  [...ranked].sort((a, b) => b.score - a.score).map((r) => r.candidate.name);

describe('suspect scores', () => {
  it("measures errors against the source's own baseline, a clean baseline included", () => {
    expect(errorZ(counts('a', 30, -10))).toBeGreaterThan(10);
    expect(errorZ(counts('a', 30, -10, 120))).toBeCloseTo(0, 0); // same ratio as its baseline: 30/300 vs 120/1200
    expect(errorZ({ events_before: 0, errors_before: 0, events_baseline: 0, errors_baseline: 0 })).toBe(0);
  });

  it('finds the onset as the change point of the errors per minute, not a stray error long before', () => {
    expect(errorOnset(counts('a', 30, -10), start)).toBe(start - 10 * MIN);
    const stray = {
      ...counts('a', 31, -10),
      minutes: [[start - 25 * MIN, 1], ...counts('a', 30, -10).minutes] as [number, number][],
    };
    expect(errorOnset(stray, start)).toBe(start - 10 * MIN);
    // Sparse errors of a quiet origin (one every other minute) still have an onset…
    const sparse = {
      ...counts('q', 6, -12),
      minutes: [-12, -10, -8, -6, -4, -2].map((m) => [start + m * MIN, 1]) as [number, number][],
    };
    expect(errorOnset(sparse, start)).toBe(start - 12 * MIN);
    // …while errors at the baseline's usual rate (10/min over 2 h) have none.
    const usual = {
      ...counts('b', 300, -30, 1200),
      minutes: Array.from({ length: 30 }, (_, i) => [start + (i - 30) * MIN, 10]) as [number, number][],
    };
    expect(errorOnset(usual, start)).toBeNull();
  });

  it('ranks a quiet origin above its louder victims when it logged first on the failing requests they share', () => {
    const ranked = rankCandidates(
      [source('db', 12, -12), source('api', 60, -12), source('web', 80, -11)],
      [edge('db', 'api', 40), edge('db', 'web', 30), edge('api', 'web', 90), edge('web', 'api', 2)],
    );
    expect(order(ranked)).toEqual(['db', 'api', 'web']);
    const db = ranked.find((r) => r.candidate.name === 'db')!;
    expect(db.downstream).toBe(0);
    expect(db.first).toEqual({ requests: 70, of: 70, with: ['api', 'web'] });
    expect(db.reasons).toContain('logged first on 70 of 70 failing requests shared with api and web');
    const web = ranked.find((r) => r.candidate.name === 'web')!;
    expect(web.downstream).toBe(1);
    expect(web.reasons).toContain('logged after db on 30 of 30 failing requests they share');
  });

  it('without shared requests, the earlier onset leads and the later one counts as possibly its victim', () => {
    const ranked = rankCandidates([source('db', 8, -15), source('api', 40, -13), source('blip', 30, -3)], []);
    expect(order(ranked)).toEqual(['db', 'api', 'blip']);
    expect(ranked.find((r) => r.candidate.name === 'api')!.downstream).toBe(0.5);
    expect(ranked.find((r) => r.candidate.name === 'db')!.reasons[0]).toMatch(/earliest of the suspects/);
  });

  it('puts a metric that moved before any error above the erring sources, and not against its own source', () => {
    const metric: Candidate = {
      kind: 'metric',
      name: 'latency_ms{service="db"}',
      source: 'db',
      z: 40,
      onsetMs: start - 14 * MIN,
    };
    const ranked = rankCandidates(
      [metric, source('api', 60, -12), source('web', 70, -12), source('db', 5, -13)],
      [edge('api', 'web', 50)],
    );
    expect(order(ranked)[0]).toBe('latency_ms{service="db"}');
    expect(ranked.find((r) => r.candidate.name === 'db')!.downstream).toBe(0);
  });

  it('counts a deploy just before the onset, and a version its baseline errors never carried', () => {
    const plain = rankCandidates([source('a', 20, -10)], [])[0].score;
    const deployed = rankCandidates(
      [{ ...source('a', 20, -10), deploy: { at: start - 12 * MIN, version: 'v2' } }],
      [],
    )[0];
    expect(deployed.score).toBeCloseTo(plain + deployed.anomaly * 0.1);
    expect(deployed.reasons).toContain('deployed v2 at 07:48, shortly before its onset');
    const tag = (value: string, before: number, baseline: number) => ({
      source: 'a',
      key: 'version',
      value,
      errors_before: before,
      errors_baseline: baseline,
      first_at: null,
    });
    expect(newVersions([tag('v1', 0, 5), tag('v2', 9, 0)])).toEqual(new Map([['a', 'version=v2']]));
    expect(newVersions([tag('v2', 9, 0)])).toEqual(new Map()); // no version before it: not a change
  });

  it('ranks a declared scope first, but keeps an outside origin upstream of it', () => {
    const candidates = [source('db', 10, -14), source('api', 50, -12), source('mail', 40, -11)];
    const edges = [edge('db', 'api', 20)];
    const ranked = rankCandidates(candidates, edges, ['api']);
    expect(order(ranked)).toEqual(['db', 'api', 'mail']);
    expect(ranked.find((r) => r.candidate.name === 'db')!.inScope).toBe(true);
    expect(ranked.find((r) => r.candidate.name === 'db')!.reasons).toContain(
      "outside the incident's declared sources, but upstream of api",
    );
    const mail = ranked.find((r) => r.candidate.name === 'mail')!;
    expect(mail.inScope).toBe(false);
    expect(mail.score).toBeCloseTo(
      rankCandidates(candidates, edges).find((r) => r.candidate.name === 'mail')!.score * 0.5,
    );
  });

  it('keeps tag values below their source and drops values found on every error of several sources', () => {
    const a = counts('api', 40, -10);
    const d = counts('db', 40, -20);
    const bySource = new Map<string, SourceScore>([
      ['db', { source: 'db', counts: d, score: 0.8 }],
      ['api', { source: 'api', counts: a, score: 0.5 }],
    ]);
    const tag = (s: string, key: string, value: string, n: number) => ({
      source: s,
      key,
      value,
      errors_before: n,
      errors_baseline: 0,
      first_at: null,
    });
    const suspects = tagSuspects(
      [
        tag('db', 'host', 'pg-1', 40),
        tag('db', 'env', 'prod', 40),
        tag('api', 'env', 'prod', 40),
        tag('api', 'path', '/x', 4),
      ],
      bySource,
    );
    expect(suspects.map((s) => s.name)).toEqual(['db: host=pg-1']);
    expect(suspects[0].score).toBeCloseTo(0.8 * 0.9);
    expect(suspects[0].evidence.explanation).toBe(
      "100% of db's errors in the 30 minutes before carry host=pg-1, which none of its errors before that did",
    );
    expect(
      rank([...suspects, { kind: 'source', name: 'db', score: 0.8, evidence: {} }]).map((s) => [s.rank, s.name]),
    ).toEqual([
      [1, 'db'],
      [2, 'db: host=pg-1'],
    ]);
  });
});

describe('failing traces', () => {
  const span = (source: string, trace: string, id: string, parent: string | null) => ({
    source,
    trace_id: trace,
    span_id: id,
    parent_span_id: parent,
  });

  it('counts each failing child → failing parent pair once per trace, and the deepest failing spans per source', () => {
    const spans = [
      // t1: web → api → db, all failing; db's span is the deepest
      span('web', 't1', 'a', null),
      span('api', 't1', 'b', 'a'),
      span('db', 't1', 'c', 'b'),
      // t2: api fails twice under web, no failing child below api
      span('web', 't2', 'd', null),
      span('api', 't2', 'e', 'd'),
      span('api', 't2', 'f', 'd'),
      // t3: one failing span whose parent did not fail (or was not received)
      span('db', 't3', 'g', 'zz'),
    ];
    const { edges, deepest, traces } = spanEdges(spans);
    expect(traces).toBe(3);
    expect(edges.sort((x, y) => x.upstream.localeCompare(y.upstream))).toEqual([
      { upstream: 'api', downstream: 'web', requests: 2 },
      { upstream: 'db', downstream: 'api', requests: 1 },
    ]);
    expect(deepest).toEqual(
      new Map([
        ['db', 2],
        ['api', 2],
      ]),
    );
    expect(mergeEdges(edges, [edge('db', 'api', 4)]).find((e) => e.upstream === 'db')).toEqual(edge('db', 'api', 5));
  });
});

describe('metric candidates', () => {
  const series = (n: number, z: number) =>
    Array.from({ length: n }, (_, i) => ({
      name: 'm',
      labels: { i: String(i) },
      mean_before: i === 0 ? 10 + z : 10,
      samples_before: 5,
      mean_baseline: 10,
      stddev_baseline: 1,
      samples_baseline: 50,
    }));

  it('needs a larger deviation among many series than for one (chance alone moves some of 10,000)', () => {
    expect(metricCandidates(series(1, 4)).map((s) => s.name)).toEqual(['m{i="0"}']);
    expect(metricCandidates(series(10_000, 4))).toEqual([]);
    expect(metricCandidates(series(10_000, 8)).map((s) => s.name)).toEqual(['m{i="0"}']);
  });
});
