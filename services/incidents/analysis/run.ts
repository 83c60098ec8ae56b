/**
 * One root-cause analysis (the contract's incident analysis work): reads (queries.ts), ranks (score.ts),
 * stores the result in incident_analyses with a timeline entry naming the top suspect. Computed once
 * automatically when an incident opens (the worker, worker.ts) and on demand (GET …/analysis?recompute=true).
 */
import { inTransaction, rows, sideBySide, type Queryable } from '../sql.ts';
import { addEntries, type IncidentRow } from '../store.ts';
import {
  alertOnsets,
  deployMarkers,
  errorTags,
  errorTraceIds,
  failingSpans,
  firstErrors,
  metricDeviations,
  metricOnsets,
  requestEdges,
  requestIds,
  sourceCounts,
  type EventRef,
  type Windows,
} from './queries.ts';
import {
  BASELINE_MS,
  BEFORE_MS,
  DEPLOY_LOOKBACK_MS,
  errorOnset,
  errorZ,
  linkedSource,
  metricCandidates,
  metricEvidence as metricEvidence_,
  mergeEdges,
  newVersions,
  rank,
  rankCandidates,
  spanEdges,
  round,
  tagSuspects,
  type Candidate,
  type SourceScore,
  type Suspect,
} from './score.ts';

import { PERCENT } from '../../../shared/units.ts';

const CROSS_AFTER_MS = 600_000; // 10 minutes
/** Suspects named in the analysis' timeline entry. */
const TIMELINE_SUSPECTS = 3;
const MAX_SOURCES = 50;
const MINUTE_MS = 60_000;
const MAX_METRIC_CANDIDATES = 20;
/** Trace ids named per suspect source (its earliest failing traces). */
const MAX_TRACE_IDS = 10;

export interface Analysis {
  id?: number;
  incident_id: string;
  computed_at: string;
  trigger: 'open' | 'request';
  windows: { baseline: { from: string; to: string }; before: { from: string; to: string } };
  suspects: Suspect[];
  first_errors: EventRef[];
  request_ids: unknown[];
}

export function windowsFor(incident: Pick<IncidentRow, 'started_at'>, nowMs: number): Windows {
  const start = incident.started_at.getTime();
  return {
    baselineFrom: new Date(start - BEFORE_MS - BASELINE_MS),
    beforeFrom: new Date(start - BEFORE_MS),
    start: new Date(start),
    crossTo: new Date(Math.min(nowMs, start + CROSS_AFTER_MS)),
  };
}

export async function analyse(
  db: Queryable,
  incident: Pick<IncidentRow, 'id' | 'started_at' | 'sources'>,
  trigger: Analysis['trigger'],
  nowMs = Date.now(),
): Promise<Analysis> {
  const w = windowsFor(incident, nowMs);
  // The metrics scan is independent of the events chain: on a pool they run side by side (on one client, in turn).
  const [events, metrics, alerts] = await sideBySide(
    db,
    () => eventEvidence(db, w),
    () => metricEvidence(db, w),
    () => alertOnsets(db, w),
  );
  const { counts, crossings, edges, traces, tags, traceIds } = events;
  const versions = newVersions(tags);

  // A source's onset: the minute its errors rose (the change point), refined to its first error in that minute.
  const minuteOnsets = new Map(counts.map((c) => [c.source, errorOnset(c, w.start.getTime())]));
  const first = await firstErrors(
    db,
    counts
      .filter((c) => errorZ(c) > 0)
      .map((c) => ({ source: c.source, from: new Date(minuteOnsets.get(c.source) ?? w.beforeFrom.getTime()) })),
    w.start,
  );
  const sourceCandidates: Candidate[] = counts.map((c) => {
    const minute = minuteOnsets.get(c.source) ?? null;
    const firstAt = first.find((e) => e.source === c.source)?.timestamp;
    const own =
      minute !== null && firstAt !== undefined && Date.parse(firstAt) < minute + MINUTE_MS
        ? Date.parse(firstAt)
        : minute;
    // Its trouble may show first in a metric labelled with it, or in an alert on it that went pending.
    const signals = [
      ...metrics
        .filter((m) => m.source === c.source && m.onsetMs !== null)
        .map((m) => ({ at: m.onsetMs!, what: m.candidate.name })),
      ...alerts
        .filter((a) => linkedSource(a.labels) === c.source)
        .map((a) => ({ at: a.active_at, what: `alert ${a.rule_name}` })),
    ];
    const earliest = signals.filter((x) => own === null || x.at < own).sort((a, b) => a.at - b.at)[0];
    return {
      kind: 'source',
      name: c.source,
      source: c.source,
      z: errorZ(c),
      onsetMs: earliest ? earliest.at : own,
      onsetFrom: earliest?.what,
      deploy: versions.has(c.source) ? { at: null, version: versions.get(c.source)! } : null,
    };
  });
  const metricCands: Candidate[] = metrics.map((m) => ({
    kind: 'metric',
    name: m.candidate.name,
    source: m.source,
    z: m.candidate.z,
    onsetMs: m.onsetMs,
  }));
  const deploys = await deployMarkers(
    db,
    sourceCandidates
      .filter((c) => c.z > 0)
      .map((c) => ({ source: c.name, at: new Date(c.onsetMs ?? w.start.getTime()) })),
    DEPLOY_LOOKBACK_MS,
  );
  for (const d of deploys) {
    const c = sourceCandidates.find((x) => x.name === d.source)!;
    c.deploy = { at: d.at, version: d.version || 'a new version' };
  }
  const ranked = rankCandidates([...sourceCandidates, ...metricCands], edges, incident.sources ?? []).filter(
    (r) => r.score > 0,
  );

  const crossingsBySource = (source: string) => crossings.filter((r) => r.sources.includes(source));
  const bySource = new Map<string, SourceScore>();
  const suspects: Omit<Suspect, 'rank'>[] = ranked.map((r) => {
    const common = {
      lead: round(r.lead),
      downstream: round(r.downstream),
      origin: r.first.of === 0 ? null : round(r.first.requests / r.first.of),
      onset: r.candidate.onsetMs === null ? null : new Date(r.candidate.onsetMs).toISOString(),
      in_scope: r.inScope,
      deploy: r.candidate.deploy ?? null,
      explanation: r.reasons.join('; '),
    };
    if (r.candidate.kind === 'metric') {
      const m = metrics.find((x) => x.candidate.name === r.candidate.name)!;
      const e = metricEvidence_(m.candidate);
      const moved =
        `${r.candidate.name} left its baseline (mean ${e.mean_before} against ${e.mean_baseline} ± ` +
        `${e.stddev_baseline}, z ${e.z})`;
      return {
        kind: 'metric' as const,
        name: r.candidate.name,
        score: r.score,
        evidence: { ...e, ...common, source: m.source, explanation: [moved, ...r.reasons].join('; ') },
      };
    }
    const c = counts.find((x) => x.source === r.candidate.name)!;
    bySource.set(c.source, { source: c.source, counts: c, score: r.score });
    const deepest = traces.deepest.get(c.source) ?? 0;
    const spans = deepest > 0 ? [`the deepest failing span in ${deepest} of ${traces.traces} failing traces`] : [];
    const rates =
      `error ratio ${round((PERCENT * c.errors_before) / Math.max(1, c.events_before), 1)}% ` +
      'in the 30 minutes before the start ' +
      `against ${round((PERCENT * c.errors_baseline) / Math.max(1, c.events_baseline), 1)}% in the 2 hours before (z ` +
      `${round(r.candidate.z, 1)})`;
    return {
      kind: 'source' as const,
      name: c.source,
      score: r.score,
      evidence: {
        errors_before: c.errors_before,
        events_before: c.events_before,
        error_rate_before: round(c.errors_before / Math.max(1, c.events_before)),
        errors_baseline: c.errors_baseline,
        events_baseline: c.events_baseline,
        error_rate_baseline: round(c.errors_baseline / Math.max(1, c.events_baseline)),
        z: round(r.candidate.z, 2),
        ...common,
        explanation: [rates, ...r.reasons, ...spans].join('; '),
        deepest_failing_spans: deepest,
        first_error: first.find((e) => e.source === c.source) ?? null,
        shared_request_ids: crossingsBySource(c.source)
          .map((x) => x.request_id)
          .slice(0, 10),
        trace_ids: traceIds.get(c.source) ?? [],
        first_in_shared_requests: crossings.filter((x) => x.first_source === c.source).length,
        first_in_failing_requests: r.first.requests,
        shared_failing_requests: r.first.of,
      },
    };
  });
  return {
    incident_id: incident.id,
    computed_at: new Date(nowMs).toISOString(),
    trigger,
    windows: {
      baseline: { from: w.baselineFrom.toISOString(), to: w.beforeFrom.toISOString() },
      before: { from: w.beforeFrom.toISOString(), to: w.start.toISOString() },
    },
    suspects: rank([...suspects, ...tagSuspects(tags, bySource)]),
    first_errors: first,
    request_ids: crossings,
  };
}

async function eventEvidence(db: Queryable, w: Windows) {
  const counts = (await sourceCounts(db, w)).sort((a, b) => b.errors_before - a.errors_before).slice(0, MAX_SOURCES);
  const erring = counts.filter((c) => errorZ(c) > 0).map((c) => c.source);
  const [crossings, requests, spans, tags, traceIds] = await sideBySide(
    db,
    () =>
      requestIds(
        db,
        counts.map((c) => c.source),
        w,
      ),
    () => requestEdges(db, erring, w),
    () => failingSpans(db, erring, w),
    () => errorTags(db, erring, w),
    () => errorTraceIds(db, erring, w, MAX_TRACE_IDS),
  );
  const traces = spanEdges(spans);
  return { counts, crossings, edges: mergeEdges(requests, traces.edges), traces, tags, traceIds };
}

/** The metric series that left their baseline (the strongest MAX_METRIC_CANDIDATES), with their onsets and sources. */
async function metricEvidence(db: Queryable, w: Windows) {
  const candidates = metricCandidates(await metricDeviations(db, w))
    .sort((a, b) => b.z - a.z)
    .slice(0, MAX_METRIC_CANDIDATES);
  const onsets = await metricOnsets(
    db,
    candidates.map((c) => ({
      name: c.series.name,
      labels: c.series.labels,
      mean: c.series.mean_baseline,
      band: c.band,
    })),
    w,
  );
  return candidates.map((candidate, i) => ({
    candidate,
    onsetMs: onsets[i],
    source: linkedSource(candidate.series.labels),
  }));
}

export async function storeAnalysis(db: Queryable, analysis: Analysis, actor: string): Promise<Analysis> {
  const [{ id }] = await rows<{ id: string }>(
    db,
    'INSERT INTO incident_analyses (incident_id, computed_at, trigger, result) VALUES ($1, $2, $3, $4) RETURNING id',
    [analysis.incident_id, analysis.computed_at, analysis.trigger, JSON.stringify(analysis)],
  );
  const top = analysis.suspects[0];
  await addEntries(db, analysis.incident_id, [
    {
      actor,
      kind: 'analysis',
      message: top
        ? `root-cause analysis: top suspect ${top.kind} ${top.name} (score ${top.score})`
        : 'root-cause analysis: no suspect stood out from its baseline',
      details: {
        analysis_id: Number(id),
        trigger: analysis.trigger,
        suspects: analysis.suspects
          .slice(0, TIMELINE_SUSPECTS)
          .map((s) => ({ kind: s.kind, name: s.name, score: s.score })),
      },
    },
  ]);
  return { id: Number(id), ...analysis };
}

/** On a pool (reads side by side) or on one connection (an expensive-work slot, expensive.ts: reads in turn). */
export async function analyseAndStore(
  db: Queryable,
  incident: IncidentRow,
  trigger: Analysis['trigger'],
  actor: string,
): Promise<Analysis> {
  const analysis = await analyse(db, incident, trigger);
  return inTransaction(db, async (client) => {
    await client.query('UPDATE incidents SET analysis_due = false WHERE id = $1 AND analysis_due', [incident.id]);
    return storeAnalysis(client, analysis, actor);
  });
}

export async function latestAnalysis(db: Queryable, incidentId: string): Promise<Analysis | null> {
  const [row] = await rows<{ id: string; result: Analysis }>(
    db,
    'SELECT id, result FROM incident_analyses WHERE incident_id = $1 ORDER BY computed_at DESC, id DESC LIMIT 1',
    [incidentId],
  );
  return row ? withTraceIds({ id: Number(row.id), ...row.result }) : null;
}

/**
 * An analysis stored before analyses named trace ids, in today's shape: its first errors get `trace_id: null`,
 * its source suspects `trace_ids: []` (it did not look for them). Newer analyses pass unchanged.
 */
function withTraceIds(analysis: Analysis): Analysis {
  const firstError = (e: EventRef): EventRef => (e.trace_id === undefined ? { ...e, trace_id: null } : e);
  return {
    ...analysis,
    first_errors: analysis.first_errors.map(firstError),
    suspects: analysis.suspects.map((s) => {
      if (s.kind !== 'source' || s.evidence.trace_ids !== undefined) return s;
      const first = s.evidence.first_error as EventRef | null;
      return { ...s, evidence: { ...s.evidence, first_error: first && firstError(first), trace_ids: [] } };
    }),
  };
}
