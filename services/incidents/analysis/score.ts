/**
 * Ranking of root-cause suspects, pure (unit-tested apart from the database). The origin of a cascade is often not
 * its loudest victim: the callers of a failing service log more errors than the service itself. So the rank rests
 * on causal evidence first and loudness second. Every candidate (an erring source, or a metric series that left
 * its baseline) gets
 *
 *   score = anomaly × (0.25 + 0.25 × lead + 0.4 × (1 − downstream) + 0.1 × deploy)        in [0, 1]
 *
 *   anomaly     how far its signal before the start stands from its own baseline, as z / (z + 3) (z = 3 → 0.5):
 *               sources: binomial z of the errors before the start against the baseline's error ratio (smoothed
 *               by one error in two events, so a clean baseline is not a division by zero); metrics: (mean before
 *               − baseline mean) / baseline deviation, counted only beyond metricThreshold() (many series, noise).
 *   lead        how close its onset is to the earliest onset among the anomalous candidates, exp(−Δ / 2 min): the
 *               cause starts first. A source's onset is the change point of its errors per minute (errorOnset),
 *               refined to its first error in that minute, or, when that came earlier, the onset of a metric
 *               series labelled with its name (a latency that rose before the errors) or the time an alert
 *               labelled with it became active; a metric's, its first sample outside its baseline band.
 *   downstream  the strongest evidence that another anomalous candidate failed before it and caused it: from
 *               request ids, the share of the failing requests two sources share in which the other logged first
 *               (the service graph of the failure: the origin is first on its requests and after nobody), where
 *               failing traces count too (a failing span's failing child is upstream of it: spanEdges); without
 *               shared requests, 0.5 when the other's onset came 30 s or more earlier.
 *   deploy      1 when the source was deployed shortly before its onset: an event tagged `deploy` in the 15
 *               minutes before, or a version-like tag value on its errors that its baseline never had.
 *
 * A declared scope (the incident's `sources`) halves the score of candidates outside it, unless the evidence makes
 * them upstream of an in-scope source (the cause is often not where the alert fired). Tag values are refinements of
 * a source ("its errors concentrate on db_host=pg-1"): the source's score × their share of its errors × 0.9, so
 * they rank right below it. Each suspect's evidence carries `explanation`, the reasons in words.
 */
import type { FailingSpan, MetricDeviation, RequestEdge, SourceCounts, TagCount } from './queries.ts';

import { MS_PER_HOUR, MS_PER_MINUTE, PERCENT } from '../../../shared/units.ts';

/** A candidate's score: its anomaly weighted by how early it began, how upstream it is and a recent deploy. */
const WEIGHT = { base: 0.25, lead: 0.25, upstream: 0.4, deploy: 0.1 };
/** The z at which an anomaly's strength is one half. */
const HALF_STRENGTH_Z = 3;
/** A tag value scores at most this share of its source's score, and only when it has this share of the errors. */
const TAG_SCORE_FACTOR = 0.9;
const MIN_TAG_SHARE = 0.2;
/** A metric's spread is at least 1% of its mean (and never zero). */
const MIN_RELATIVE_SPREAD = 0.01;
const MIN_SPREAD = 1e-9;
/** Deviations a metric needs beyond the largest one expected of its noise series. */
const METRIC_EXTRA_DEVIATIONS = 3;
const FIGURE_DIGITS = 6;
const ISO_HOUR_MINUTE = { from: 11, to: 16 };

export const BEFORE_MS = 1_800_000; // 30 minutes
export const BASELINE_MS = 2 * MS_PER_HOUR;
const MINUTE_MS = MS_PER_MINUTE;
const LEAD_SCALE_MS = 2 * MINUTE_MS;
/** An onset this much earlier than another's makes the later one possibly its victim. */
const ONSET_GAP_MS = 30_000;
const ONSET_DOWNSTREAM = 0.5;
/** Shared failing requests below this say nothing about who is upstream. */
const MIN_SHARED_REQUESTS = 3;
/** z from which a candidate's onset and requests count as evidence about others. */
const ANOMALOUS_Z = 3;
const OUT_OF_SCOPE_FACTOR = 0.5;
/** Change-point log-likelihood ratio below which a source's errors have no onset (about e^-8 by chance). */
const MIN_ONSET_LLR = 8;
export const DEPLOY_LOOKBACK_MS = 900_000; // 15 minutes
const VERSION_KEYS = new Set([
  'version',
  'service.version',
  'service_version',
  'release',
  'build',
  'image',
  'commit',
  'git_sha',
]);
const LINK_LABELS = ['service', 'service_name', 'job', 'source', 'app'];

export interface Suspect {
  rank: number;
  kind: 'source' | 'tag' | 'metric';
  name: string;
  score: number;
  evidence: Record<string, unknown>;
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const strength = (z: number) => (z <= 0 ? 0 : z / (z + HALF_STRENGTH_Z));
const clamp01 = (x: number) => Math.min(1, Math.max(0, x));
const hhmm = (ms: number) => new Date(ms).toISOString().slice(ISO_HOUR_MINUTE.from, ISO_HOUR_MINUTE.to);
const minutes = (ms: number) => `${round(ms / MINUTE_MS, 1)} min`;
const percent = (x: number) => `${round(PERCENT * x, 1)}%`;

/** The binomial z of `errors` among `events` against the baseline's (smoothed) error ratio. */
export function errorZ(
  c: Pick<SourceCounts, 'events_before' | 'errors_before' | 'events_baseline' | 'errors_baseline'>,
): number {
  if (c.events_before === 0) return 0;
  const p = (c.errors_baseline + 1) / (c.events_baseline + 2);
  const expected = c.events_before * p;
  return (c.errors_before - expected) / Math.sqrt(c.events_before * p * (1 - p));
}

/**
 * The onset of a source's errors: the minute from which its errors per minute most likely rose above the baseline's
 * rate (the change point of a Poisson rate, maximising the log-likelihood ratio of "a higher rate from here on" —
 * CUSUM). Robust to a stray error long before, and to sparse errors of a quiet origin. Null when no rise is likely.
 */
export function errorOnset(c: SourceCounts, startMs: number): number | null {
  const base = (c.errors_baseline + 1) / (BASELINE_MS / MINUTE_MS);
  const first = startMs - BEFORE_MS;
  const perMinute = new Array<number>(BEFORE_MS / MINUTE_MS).fill(0);
  for (const [t, n] of c.minutes) {
    const i = Math.floor((t - first) / MINUTE_MS);
    if (i >= 0 && i < perMinute.length) perMinute[i] += n;
  }
  let best: { llr: number; at: number } | null = null;
  let tail = 0;
  for (let i = perMinute.length - 1; i >= 0; i--) {
    tail += perMinute[i];
    const span = perMinute.length - i;
    const rate = tail / span;
    if (rate <= base || perMinute[i] === 0) continue;
    const llr = tail * Math.log(rate / base) - (rate - base) * span;
    if (!best || llr >= best.llr) best = { llr, at: first + i * MINUTE_MS };
  }
  return best && best.llr >= MIN_ONSET_LLR ? best.at : null;
}

/** A source or a metric series that may have caused the incident. */
export interface Candidate {
  kind: 'source' | 'metric';
  name: string;
  /** The source it speaks of: itself, or the source a metric's service/job label names. */
  source: string | null;
  z: number;
  onsetMs: number | null;
  /** What the onset came from, when not the candidate's own signal (a source's metric that moved first). */
  onsetFrom?: string;
  /** A deploy before the onset: the marker's time and version, or a version tag new on its errors. */
  deploy?: { at: number | null; version: string } | null;
}

export interface Ranked {
  candidate: Candidate;
  anomaly: number;
  lead: number;
  downstream: number;
  /** Who it is most likely downstream of, and why. */
  after: { name: string; requests?: number; of?: number } | null;
  /** Shared failing requests it logged first, and how many it shares with anomalous sources, with whom. */
  first: { requests: number; of: number; with: string[] };
  inScope: boolean | null;
  score: number;
  reasons: string[];
}

const isAnomalous = (c: Candidate) => c.z >= ANOMALOUS_Z;

/** The ordered-pair counts of shared failing requests, as a lookup. */
function edgeCounts(edges: RequestEdge[]): (up: string, down: string) => number {
  const m = new Map<string, number>();
  for (const e of edges) m.set(`${e.upstream}\u0000${e.downstream}`, e.requests);
  return (up, down) => m.get(`${up}\u0000${down}`) ?? 0;
}

/** Scores every candidate by the formula at the top, with its reasons in words. */
export function rankCandidates(candidates: Candidate[], edges: RequestEdge[], scope: string[] = []): Ranked[] {
  const n = edgeCounts(edges);
  const anomalous = candidates.filter(isAnomalous);
  const onsets = anomalous.map((c) => c.onsetMs).filter((t): t is number => t !== null);
  const earliest = onsets.length ? Math.min(...onsets) : null;
  const anomalousSources = [...new Set(anomalous.map((c) => c.source).filter((s): s is string => s !== null))];

  const evidenceAgainst = (c: Candidate, other: Candidate): { value: number; requests?: number; of?: number } => {
    if (c.source !== null && other.source !== null && c.source !== other.source) {
      const down = n(other.source, c.source);
      const shared = down + n(c.source, other.source);
      if (shared >= MIN_SHARED_REQUESTS) return { value: down / shared, requests: down, of: shared };
    }
    if (c.source !== null && c.source === other.source) return { value: 0 };
    if (c.onsetMs !== null && other.onsetMs !== null && other.onsetMs <= c.onsetMs - ONSET_GAP_MS)
      return { value: ONSET_DOWNSTREAM };
    return { value: 0 };
  };

  const ranked = candidates.map((c): Ranked => {
    const anomaly = strength(c.z);
    const lead =
      c.onsetMs === null || earliest === null ? 0 : Math.exp(-Math.max(0, c.onsetMs - earliest) / LEAD_SCALE_MS);
    let downstream = 0;
    let after: Ranked['after'] = null;
    for (const other of anomalous) {
      if (other === c) continue;
      const e = evidenceAgainst(c, other);
      if (e.value > downstream) {
        downstream = e.value;
        after = { name: other.name, requests: e.requests, of: e.of };
      }
    }
    const partners = c.source === null ? [] : anomalousSources.filter((s) => s !== c.source);
    const shares = partners
      .map((s) => ({ s, first: n(c.source!, s), of: n(c.source!, s) + n(s, c.source!) }))
      .filter((x) => x.of > 0);
    const first = {
      requests: shares.reduce((a, x) => a + x.first, 0),
      of: shares.reduce((a, x) => a + x.of, 0),
      with: shares.map((x) => x.s),
    };
    const deploy = c.deploy ? 1 : 0;
    const score =
      anomaly * (WEIGHT.base + WEIGHT.lead * lead + WEIGHT.upstream * (1 - downstream) + WEIGHT.deploy * deploy);
    return { candidate: c, anomaly, lead, downstream, after, first, inScope: null, score, reasons: [] };
  });

  if (scope.length > 0) {
    const inScope = new Set(scope);
    const scoped = ranked.filter(
      (r) => r.candidate.source !== null && inScope.has(r.candidate.source) && isAnomalous(r.candidate),
    );
    for (const r of ranked) {
      const own = r.candidate.source !== null && inScope.has(r.candidate.source);
      // Upstream of the scope: the scope's sources are downstream of it, by shared requests or by onset.
      const upstreamOf = own
        ? []
        : scoped.filter((s) => evidenceAgainst(s.candidate, r.candidate).value >= ONSET_DOWNSTREAM);
      r.inScope = own || upstreamOf.length > 0;
      if (!r.inScope) r.score *= OUT_OF_SCOPE_FACTOR;
      if (upstreamOf.length > 0) {
        r.reasons.push(
          `outside the incident's declared sources, but upstream of ` +
            `${upstreamOf.map((s) => s.candidate.name).join(', ')}`,
        );
      }
    }
  }
  for (const r of ranked) r.reasons.unshift(...reasons(r, earliest));
  return ranked;
}

function reasons(r: Ranked, earliest: number | null): string[] {
  const c = r.candidate;
  const out: string[] = [];
  if (c.onsetMs !== null) {
    const from = c.onsetFrom ? ` (${c.onsetFrom} moved first)` : '';
    const lag = earliest === null ? 0 : c.onsetMs - earliest;
    out.push(
      lag <= 0
        ? `its trouble began at ${hhmm(c.onsetMs)}${from}, the earliest of the suspects`
        : `its trouble began at ${hhmm(c.onsetMs)}${from}, ${minutes(lag)} after the earliest suspect's`,
    );
  }
  if (r.first.of > 0) {
    out.push(
      `logged first on ${r.first.requests} of ${r.first.of} failing requests shared with ${r.first.with.join(' and ')}`,
    );
  }
  if (r.after) {
    out.push(
      r.after.of !== undefined
        ? `logged after ${r.after.name} on ${r.after.requests} of ${r.after.of} failing requests they share`
        : `its trouble began after ${r.after.name}'s`,
    );
  }
  if (c.deploy) {
    out.push(
      c.deploy.at !== null
        ? `deployed ${c.deploy.version} at ${hhmm(c.deploy.at)}, shortly before its onset`
        : `its errors carry ${c.deploy.version}, which its baseline never had (a deploy)`,
    );
  }
  return out;
}

/**
 * The service graph of failing traces: in each trace, a failing span whose child span failed too failed because
 * of it, so each (failing child's source → failing parent's source) pair counts once per trace as an edge, like a
 * failing request logged first by the child's source; the deepest failing spans (no failing child) are the
 * traces' origins, counted per source.
 */
export function spanEdges(spans: FailingSpan[]): {
  edges: RequestEdge[];
  deepest: Map<string, number>;
  traces: number;
} {
  const byTrace = new Map<string, FailingSpan[]>();
  for (const s of spans) byTrace.set(s.trace_id, [...(byTrace.get(s.trace_id) ?? []), s]);
  const pairs = new Map<string, number>();
  const deepest = new Map<string, number>();
  for (const trace of byTrace.values()) {
    const byId = new Map(trace.map((s) => [s.span_id, s]));
    const failingParents = new Set(
      trace.map((s) => s.parent_span_id).filter((p): p is string => p !== null && byId.has(p)),
    );
    const seen = new Set<string>();
    for (const child of trace) {
      if (!failingParents.has(child.span_id)) deepest.set(child.source, (deepest.get(child.source) ?? 0) + 1);
      const parent = child.parent_span_id === null ? undefined : byId.get(child.parent_span_id);
      if (!parent || parent.source === child.source) continue;
      const key = `${child.source}\u0000${parent.source}`;
      if (!seen.has(key)) pairs.set(key, (pairs.get(key) ?? 0) + 1);
      seen.add(key);
    }
  }
  const edges = [...pairs].map(([key, requests]) => {
    const [upstream, downstream] = key.split('\u0000');
    return { upstream, downstream, requests };
  });
  return { edges, deepest, traces: byTrace.size };
}

/** Request edges and span edges of the same pair added up. */
export function mergeEdges(...lists: RequestEdge[][]): RequestEdge[] {
  const sum = new Map<string, RequestEdge>();
  for (const e of lists.flat()) {
    const key = `${e.upstream}\u0000${e.downstream}`;
    const had = sum.get(key);
    sum.set(key, { ...e, requests: (had?.requests ?? 0) + e.requests });
  }
  return [...sum.values()];
}

/** A metric series' source: the value of its first label among service, service_name, job, source, app. */
export function linkedSource(labels: Record<string, string>): string | null {
  for (const key of LINK_LABELS) if (labels[key] !== undefined) return labels[key];
  return null;
}

/** A version-like tag value on a source's errors that its baseline errors never carried: a deploy. */
export function newVersions(tags: TagCount[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of tags) {
    if (!VERSION_KEYS.has(t.key) || t.errors_baseline > 0 || t.errors_before < 2) continue;
    const previous = tags.some(
      (o) => o.source === t.source && o.key === t.key && o.value !== t.value && o.errors_baseline > 0,
    );
    if (previous) out.set(t.source, `${t.key}=${t.value}`);
  }
  return out;
}

export interface SourceScore {
  source: string;
  counts: SourceCounts;
  score: number;
}

export function tagSuspects(tags: TagCount[], sources: Map<string, SourceScore>): Omit<Suspect, 'rank'>[] {
  const suspects: Omit<Suspect, 'rank'>[] = [];
  // A value on every error of two or more sources (env=prod) says nothing about where the trouble is.
  const everywhere = new Map<string, number>();
  for (const t of tags) {
    const s = sources.get(t.source);
    if (s && t.errors_before === s.counts.errors_before)
      everywhere.set(`${t.key}=${t.value}`, (everywhere.get(`${t.key}=${t.value}`) ?? 0) + 1);
  }
  for (const t of tags) {
    const s = sources.get(t.source);
    if (!s || t.errors_before < 2 || (everywhere.get(`${t.key}=${t.value}`) ?? 0) >= 2) continue;
    const share = t.errors_before / Math.max(1, s.counts.errors_before);
    const rateBefore = t.errors_before / BEFORE_MS;
    const rateBaseline = t.errors_baseline / BASELINE_MS;
    const rise = clamp01(1 - rateBaseline / rateBefore);
    const score = s.score * share * rise * TAG_SCORE_FACTOR;
    if (share < MIN_TAG_SHARE || score <= 0) continue;
    suspects.push({
      kind: 'tag',
      name: `${t.source}: ${t.key}=${t.value}`,
      score,
      evidence: {
        source: t.source,
        key: t.key,
        value: t.value,
        errors_before: t.errors_before,
        errors_baseline: t.errors_baseline,
        share_of_source_errors_before: round(share),
        first_error_at: t.first_at?.toISOString() ?? null,
        explanation:
          `${percent(share)} of ${t.source}'s errors in the 30 minutes before carry ${t.key}=${t.value}` +
          (t.errors_baseline === 0 ? ', which none of its errors before that did' : ''),
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
  return METRIC_EXTRA_DEVIATIONS + Math.sqrt(2 * Math.log(Math.max(1, seriesCount)));
}

export interface MetricCandidate {
  series: MetricDeviation;
  name: string;
  z: number;
  /** The deviation of a single sample that counts as having left the baseline. */
  band: number;
}

/** The series that left their baseline beyond chance, with their z. */
export function metricCandidates(series: MetricDeviation[]): MetricCandidate[] {
  const threshold = metricThreshold(series.length);
  return series
    .map((m) => {
      const spread = Math.max(m.stddev_baseline, Math.abs(m.mean_baseline) * MIN_RELATIVE_SPREAD, MIN_SPREAD);
      const z = Math.abs(m.mean_before - m.mean_baseline) / spread;
      const labels = Object.entries(m.labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',');
      return { series: m, name: `${m.name}{${labels}}`, z, band: threshold * spread };
    })
    .filter((m) => m.z > threshold);
}

export function metricEvidence(m: MetricCandidate): Record<string, unknown> {
  const s = m.series;
  return {
    metric: s.name,
    labels: s.labels,
    mean_before: round(s.mean_before, FIGURE_DIGITS),
    mean_baseline: round(s.mean_baseline, FIGURE_DIGITS),
    stddev_baseline: round(s.stddev_baseline, FIGURE_DIGITS),
    z: round(m.z, 2),
    samples_before: s.samples_before,
    samples_baseline: s.samples_baseline,
  };
}

/** Sorted by score (then name), numbered from 1, scores rounded, at most `max`. */
export function rank(suspects: Omit<Suspect, 'rank'>[], max = 20): Suspect[] {
  return suspects
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name))
    .slice(0, max)
    .map((s, i) => ({ rank: i + 1, ...s, score: round(s.score) }));
}

export { round, strength };
