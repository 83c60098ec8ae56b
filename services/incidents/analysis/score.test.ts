import { describe, expect, it } from 'vitest';
import { BEFORE_MS, errorZ, metricSuspects, onset, rank, scoreSources, tagSuspects } from './score.ts';
import type { SourceCounts } from './queries.ts';

const MIN = 60_000;
const start = 1_800_000_000_000;
const counts = (source: string, errorsBefore: number, onsetMin: number, errorsBaseline = 0): SourceCounts => ({
  source,
  events_before: 300,
  errors_before: errorsBefore,
  events_baseline: 1200,
  errors_baseline: errorsBaseline,
  minutes: Array.from({ length: -onsetMin }, (_, i) => [start + (onsetMin + i) * MIN, Math.ceil(errorsBefore / -onsetMin)] as [number, number]),
});

describe('suspect scores', () => {
  it('measures errors against the source\'s own baseline, a clean baseline included', () => {
    expect(errorZ(counts('a', 30, -10))).toBeGreaterThan(10);
    expect(errorZ(counts('a', 30, -10, 120))).toBeCloseTo(0, 0); // same ratio as its baseline: 30/300 vs 120/1200
    expect(errorZ({ events_before: 0, errors_before: 0, events_baseline: 0, errors_baseline: 0 })).toBe(0);
  });

  it('finds the onset: the first minute beyond three deviations of the baseline rate', () => {
    expect(onset(counts('a', 30, -10))).toBe(start - 10 * MIN);
    const noisy = { ...counts('b', 30, -10, 1200), minutes: [[start - 20 * MIN, 10], [start - 5 * MIN, 40]] as [number, number][] };
    expect(onset(noisy)).toBe(start - 5 * MIN); // 10/min is its usual rate
  });

  it('ranks the source whose trouble began first, and the one that logged first in shared requests, above the others', () => {
    const crossings = [{ request_id: 'r1', sources: ['api', 'db'], first_source: 'db', first_at: '', events: 2, errors: 2 }];
    const scores = scoreSources([counts('api', 40, -10), counts('db', 40, -20)], crossings, start);
    const db = scores.find((s) => s.source === 'db')!;
    expect(db.lead).toBeCloseTo(20 * MIN / BEFORE_MS);
    expect(db.origin).toBe(1);
    expect(rank(scores.map((s) => ({ kind: 'source' as const, name: s.source, score: s.score, evidence: {} }))).map((s) => [s.rank, s.name])).toEqual([[1, 'db'], [2, 'api']]);
  });

  it('keeps tag values below their source and drops values found on every error of several sources', () => {
    const a = counts('api', 40, -10);
    const d = counts('db', 40, -20);
    const bySource = new Map(scoreSources([a, d], [], start).map((s) => [s.source, { score: s, counts: s.source === 'db' ? d : a }]));
    const tag = (source: string, key: string, value: string, n: number) => ({ source, key, value, errors_before: n, errors_baseline: 0, first_at: null });
    const suspects = tagSuspects([tag('db', 'host', 'pg-1', 40), tag('db', 'env', 'prod', 40), tag('api', 'env', 'prod', 40), tag('api', 'path', '/x', 4)], bySource);
    expect(suspects.map((s) => s.name)).toEqual(['db: host=pg-1']);
    expect(suspects[0].score).toBeCloseTo(bySource.get('db')!.score.score * 0.9);
  });
});

describe('metric suspects', () => {
  const series = (n: number, z: number) =>
    Array.from({ length: n }, (_, i) => ({ name: 'm', labels: { i: String(i) }, mean_before: i === 0 ? 10 + z : 10, samples_before: 5, mean_baseline: 10, stddev_baseline: 1, samples_baseline: 50 }));

  it('needs a larger deviation among many series than for one (chance alone moves some of 10,000)', () => {
    expect(metricSuspects(series(1, 4)).map((s) => s.name)).toEqual(['m{i="0"}']);
    expect(metricSuspects(series(10_000, 4))).toEqual([]);
    expect(metricSuspects(series(10_000, 8)).map((s) => s.name)).toEqual(['m{i="0"}']);
  });
});
