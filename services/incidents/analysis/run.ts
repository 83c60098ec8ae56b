/**
 * One root-cause analysis (the seed's monitoring_incident_analysis task): reads (queries.ts), ranks (score.ts),
 * stores the result in incident_analyses with a timeline entry naming the top suspect. Computed once
 * automatically when an incident opens (the worker, worker.ts) and on demand (GET …/analysis?recompute=true).
 */
import type { Pool } from '../../../shared/db/pool.ts';
import { inTransaction, rows, type Queryable } from '../sql.ts';
import { addEntries, type IncidentRow } from '../store.ts';
import { errorTags, firstErrors, metricDeviations, requestIds, sourceCounts, type Windows } from './queries.ts';
import { BASELINE_MS, BEFORE_MS, metricSuspects, rank, round, scoreSources, tagSuspects, type Suspect } from './score.ts';

const CROSS_AFTER_MS = 10 * 60_000;
const MAX_SOURCES = 50;

export interface Analysis {
  id?: number;
  incident_id: string;
  computed_at: string;
  trigger: 'open' | 'request';
  windows: { baseline: { from: string; to: string }; before: { from: string; to: string } };
  suspects: Suspect[];
  first_errors: unknown[];
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

export async function analyse(db: Queryable, incident: IncidentRow, trigger: Analysis['trigger'], nowMs = Date.now()): Promise<Analysis> {
  const w = windowsFor(incident, nowMs);
  // The metrics scan is independent of the events chain: on a pool they run side by side (on one client, in turn).
  const [events, metrics] = await Promise.all([eventEvidence(db, w), metricDeviations(db, w)]);
  const { counts, crossings, scores, first, tags } = events;
  const bySource = new Map(scores.map((s) => [s.source, { score: s, counts: counts.find((c) => c.source === s.source)! }]));
  const crossingsBySource = (source: string) => crossings.filter((r) => r.sources.includes(source));

  const sourceSuspects = scores.map((s) => {
    const c = bySource.get(s.source)!.counts;
    return {
      kind: 'source' as const,
      name: s.source,
      score: s.score,
      evidence: {
        errors_before: c.errors_before,
        events_before: c.events_before,
        error_rate_before: round(c.errors_before / Math.max(1, c.events_before)),
        errors_baseline: c.errors_baseline,
        events_baseline: c.events_baseline,
        error_rate_baseline: round(c.errors_baseline / Math.max(1, c.events_baseline)),
        z: round(s.z, 2),
        onset: s.onsetMs === null ? null : new Date(s.onsetMs).toISOString(),
        lead: round(s.lead),
        first_error: first.find((e) => e.source === s.source) ?? null,
        shared_request_ids: crossingsBySource(s.source).map((r) => r.request_id).slice(0, 10),
        first_in_shared_requests: crossings.filter((r) => r.first_source === s.source).length,
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
    suspects: rank([...sourceSuspects, ...tagSuspects(tags, bySource), ...metricSuspects(metrics)]),
    first_errors: first,
    request_ids: crossings,
  };
}

async function eventEvidence(db: Queryable, w: Windows) {
  const counts = (await sourceCounts(db, w)).sort((a, b) => b.errors_before - a.errors_before).slice(0, MAX_SOURCES);
  const crossings = await requestIds(db, counts.map((c) => c.source), w);
  const scores = scoreSources(counts, crossings, w.start.getTime());
  const [first, tags] = await Promise.all([
    firstErrors(db, scores.map((s) => ({ source: s.source, from: new Date(s.onsetMs ?? w.beforeFrom.getTime()) })), w.start),
    errorTags(db, scores.map((s) => s.source), w),
  ]);
  return { counts, crossings, scores, first, tags };
}

export async function storeAnalysis(db: Queryable, analysis: Analysis, actor: string): Promise<Analysis> {
  const [{ id }] = await rows<{ id: string }>(
    db,
    'INSERT INTO incident_analyses (incident_id, computed_at, trigger, result) VALUES ($1, $2, $3, $4) RETURNING id',
    [analysis.incident_id, analysis.computed_at, analysis.trigger, JSON.stringify(analysis)],
  );
  const top = analysis.suspects[0];
  await addEntries(db, analysis.incident_id, [{
    actor,
    kind: 'analysis',
    message: top ? `root-cause analysis: top suspect ${top.kind} ${top.name} (score ${top.score})` : 'root-cause analysis: no suspect stood out from its baseline',
    details: { analysis_id: Number(id), trigger: analysis.trigger, suspects: analysis.suspects.slice(0, 3).map((s) => ({ kind: s.kind, name: s.name, score: s.score })) },
  }]);
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
  return row ? { id: Number(row.id), ...row.result } : null;
}
