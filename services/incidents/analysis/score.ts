/**
 * Ranking of root-cause suspects, pure (unit-tested apart from the database). Every suspect gets
 *
 *   score = anomaly × (0.4 + 0.4 × lead + 0.2 × origin)            in [0, 1]
 *
 *   anomaly  how far its signal before the start stands from its own baseline, as z / (z + 3) (z = 3 → 0.5):
 *            sources: binomial z of the errors before the start against the baseline's error ratio (smoothed by
 *            one error in two events, so a clean baseline is not a division by zero); metrics: (mean before −
 *            baseline mean) / baseline deviation, counted only beyond metricThreshold() (many series, some noise).
 *   lead     how early its trouble began within the 30 minutes before the start (1 = at the window's beginning):
 *            the cause usually starts first. Sources: the first minute whose errors exceed the baseline's rate by
 *            three deviations (the onset).
 *   origin   sources only: the share of request ids crossing several sources in which this source logged first
 *            (the seed's request-id correlation: the service that failed first is upstream of the others' errors).
 *
 * Tag values are refinements of a source ("its errors concentrate on db_host=pg-1"): score = the source's score ×
 * the share of its errors before the start that carry the value × 0.9, so they rank right below their source.
 */
import type { MetricDeviation, RequestIdCrossing, SourceCounts, TagCount } from './queries.ts';

export const BEFORE_MS = 30 * 60_000;
export const BASELINE_MS = 2 * 3_600_000;
const MINUTE_MS = 60_000;

export interface Suspect {
  rank: number;
  kind: 'source' | 'tag' | 'metric';
  name: string;
  score: number;
  evidence: Record<string, unknown>;
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const strength = (z: number) => (z <= 0 ? 0 : z / (z + 3));
const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

export interface SourceScore {
  source: string;
  anomaly: number;
  z: number;
  onsetMs: number | null;
  lead: number;
  origin: number;
  score: number;
}

/** The binomial z of `errors` among `events` against the baseline's (smoothed) error ratio. */
export function errorZ(c: Pick<SourceCounts, 'events_before' | 'errors_before' | 'events_baseline' | 'errors_baseline'>): number {
  if (c.events_before === 0) return 0;
  const p = (c.errors_baseline + 1) / (c.events_baseline + 2);
  const expected = c.events_before * p;
  return (c.errors_before - expected) / Math.sqrt(c.events_before * p * (1 - p));
}

/** The first minute before the start whose errors exceed the baseline's per-minute rate by three deviations. */
export function onset(c: SourceCounts): number | null {
  const perMinute = c.errors_baseline / (BASELINE_MS / MINUTE_MS);
  const threshold = perMinute + 3 * Math.sqrt(perMinute);
  return c.minutes.find(([, n]) => n > threshold)?.[0] ?? null;
}

export function scoreSources(counts: SourceCounts[], crossings: RequestIdCrossing[], startMs: number): SourceScore[] {
  const firstIn = new Map<string, number>();
  for (const r of crossings) firstIn.set(r.first_source, (firstIn.get(r.first_source) ?? 0) + 1);
  return counts
    .map((c) => {
      const z = errorZ(c);
      const onsetMs = onset(c);
      const lead = onsetMs === null ? 0 : clamp01((startMs - onsetMs) / BEFORE_MS);
      const origin = crossings.length === 0 ? 0 : (firstIn.get(c.source) ?? 0) / crossings.length;
      const anomaly = strength(z);
      return { source: c.source, anomaly, z, onsetMs, lead, origin, score: anomaly * (0.4 + 0.4 * lead + 0.2 * origin) };
    })
    .filter((s) => s.score > 0);
}

export function tagSuspects(tags: TagCount[], sources: Map<string, { score: SourceScore; counts: SourceCounts }>): Omit<Suspect, 'rank'>[] {
  const suspects: Omit<Suspect, 'rank'>[] = [];
  // A value on every error of two or more sources (env=prod) says nothing about where the trouble is.
  const everywhere = new Map<string, number>();
  for (const t of tags) {
    const s = sources.get(t.source);
    if (s && t.errors_before === s.counts.errors_before) everywhere.set(`${t.key}=${t.value}`, (everywhere.get(`${t.key}=${t.value}`) ?? 0) + 1);
  }
  for (const t of tags) {
    const s = sources.get(t.source);
    if (!s || t.errors_before < 2 || (everywhere.get(`${t.key}=${t.value}`) ?? 0) >= 2) continue;
    const share = t.errors_before / Math.max(1, s.counts.errors_before);
    const rateBefore = t.errors_before / BEFORE_MS;
    const rateBaseline = t.errors_baseline / BASELINE_MS;
    const rise = clamp01(1 - rateBaseline / rateBefore);
    const score = s.score.score * share * rise * 0.9;
    if (share < 0.2 || score <= 0) continue;
    suspects.push({
      kind: 'tag',
      name: `${t.source}: ${t.key}=${t.value}`,
      score,
      evidence: {
        source: t.source, key: t.key, value: t.value, errors_before: t.errors_before, errors_baseline: t.errors_baseline,
        share_of_source_errors_before: round(share), first_error_at: t.first_at?.toISOString() ?? null,
      },
    });
  }
  return suspects;
}

/**
 * Among many series some leave their baseline by chance: the largest |z| of N noise series is about sqrt(2 ln N),
 * so a series counts only beyond 3 deviations more than that (3 for one series, ~7.3 for 10,000).
 */
export function metricThreshold(seriesCount: number): number {
  return 3 + Math.sqrt(2 * Math.log(Math.max(1, seriesCount)));
}

export function metricSuspects(series: MetricDeviation[]): Omit<Suspect, 'rank'>[] {
  const threshold = metricThreshold(series.length);
  return series
    .map((m) => {
      const spread = Math.max(m.stddev_baseline, Math.abs(m.mean_baseline) * 0.01, 1e-9);
      const z = Math.abs(m.mean_before - m.mean_baseline) / spread;
      const score = z <= threshold ? 0 : strength(z) * 0.6; // no onset is computed for metrics: a middling lead (0.4 + 0.4 × 0.5)
      const labels = Object.entries(m.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',');
      return {
        kind: 'metric' as const,
        name: `${m.name}{${labels}}`,
        score,
        evidence: {
          metric: m.name, labels: m.labels, mean_before: round(m.mean_before, 6), mean_baseline: round(m.mean_baseline, 6),
          stddev_baseline: round(m.stddev_baseline, 6), z: round(z, 2), samples_before: m.samples_before, samples_baseline: m.samples_baseline,
        },
      };
    })
    .filter((s) => s.score > 0);
}

/** Sorted by score (then name), numbered from 1, scores rounded, at most `max`. */
export function rank(suspects: Omit<Suspect, 'rank'>[], max = 20): Suspect[] {
  return suspects
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name))
    .slice(0, max)
    .map((s, i) => ({ rank: i + 1, ...s, score: round(s.score) }));
}

export { round };
