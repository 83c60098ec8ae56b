/**
 * GET /incidents/{id}/timeline: the incident's own changes, the transitions of the alert series attached to it,
 * and the correlated events, merged in time order, from one hour before the incident started until it resolved
 * (or now), paginated with limit/offset.
 *
 * Correlated events are warn-and-above events (and alert events) of
 *   - the incident's declared sources, and the sources its alerts name (labels source, service, job);
 *   - any source, when they carry all of the incident's declared tags (the sources that had such events in the
 *     window are found in the per-minute rollups, so no scan runs over sources that had none);
 *   - the alerter's alert events (other alerts that fired around the incident), except those of the attached
 *     series, which appear as alert transitions instead. Only events the alerter itself stored are taken for its
 *     own: source vigil-alerter AND created_by vigil-alerter (the gateway and the writer refuse that source and
 *     that creator from anyone else; an older row that claims them is not shown). The system's sources are never
 *     read as an ordinary source.
 * Every entry names who made it in `created_by`: a change's actor, the alerter for transitions, an event's
 * created_by.
 * Cost: each source's candidates (time, id) come from one ordered index-only range scan of the covering partial
 * index events_notable_idx (migrations 0006, 0011: warn+ and alert events, with event_type and the tags included
 * unless they are too large for an index entry, so the tag scope is checked in the index) over the window's
 * partitions, stopped after offset + limit + 1 entries; the alerter's events likewise from events_system_alerts_idx
 * (migrations 0017, 0022: only the alerter's own alert events, their bounded tags included); the merged page is
 * cut, and only its rows are read from the table (and the rows whose tags were too large, to test them). A page costs
 * O(sources × (offset + limit)) index entries plus `limit` table rows, whatever the window's length or the volume
 * of info-level traffic. (An alert event of another series of the same rule whose labels contain the attached
 * series' labels is taken for the attached series: series of one rule normally share their label keys.)
 */
import { ALERTER_ACTOR, isSystemSource } from '../../shared/auth/identity.ts';
import { rows, type Queryable } from './sql.ts';
import type { IncidentRow } from './store.ts';

/** The source and the creator of the alerter's alert events (services/alerter/notify/dispatcher.ts ALERT_SOURCE). */
export const ALERTER_SOURCE = ALERTER_ACTOR;
/** Alert labels whose values name event sources. */
export const SOURCE_LABELS = ['source', 'service', 'job'] as const;
export const HOUR_MS = 3_600_000;
const MAX_SOURCES = 200;

export interface Window {
  from: Date;
  to: Date;
}

export interface Scope {
  /** Sources whose every notable event correlates. */
  sources: string[];
  /** Declared tags: events of any source carrying all of them correlate. */
  tags: Record<string, string>;
  /** rule_id/fingerprint of the attached series. */
  series: { rule_id: string; fingerprint: string; labels: Record<string, string> }[];
}

export function timelineWindow(incident: Pick<IncidentRow, 'started_at' | 'resolved_at'>, nowMs = Date.now()): Window {
  return { from: new Date(incident.started_at.getTime() - HOUR_MS), to: incident.resolved_at ?? new Date(nowMs) };
}

export async function loadScope(db: Queryable, incident: IncidentRow): Promise<Scope> {
  const series = await rows<Scope['series'][number]>(
    db,
    'SELECT rule_id, fingerprint, labels FROM incident_alerts WHERE incident_id = $1',
    [incident.id],
  );
  const sources = new Set(incident.sources);
  for (const s of series) for (const label of SOURCE_LABELS) if (s.labels[label]) sources.add(s.labels[label]);
  const ordinary = [...sources].filter((s) => !isSystemSource(s));
  return { sources: ordinary.slice(0, MAX_SOURCES), tags: incident.tags, series };
}

/** Sources that had warn-and-above events during the window, from the rollups (for the declared tags). */
async function sourcesWithNotableEvents(db: Queryable, w: Window): Promise<string[]> {
  const found = await rows<{ source: string }>(
    db,
    `SELECT DISTINCT source FROM rollups
      WHERE kind = 'event' AND bucket >= date_trunc('minute', $1::timestamptz) AND bucket <= $2 AND level IN ('warn',
        'error', 'fatal')
      LIMIT ${MAX_SOURCES}`,
    [w.from.toISOString(), w.to.toISOString()],
  );
  return found.map((r) => r.source);
}

export interface TimelineEntryJson {
  timestamp: string;
  kind: 'change' | 'alert' | 'event';
  source: string;
  message: string | null;
  /** Who made the entry: the change's actor, vigil-alerter for transitions, the event's created_by. */
  created_by: string | null;
  [field: string]: unknown;
}

export interface TimelinePage {
  incident_id: string;
  from: string;
  to: string;
  limit: number;
  offset: number;
  has_more: boolean;
  entries: TimelineEntryJson[];
}

/**
 * `<tags> <test>` on a candidate of events_notable_idx without leaving the index when it can: the index includes
 * notable_tags (migration 0011), which holds the tags unless they were too large for an index entry (or the row
 * predates the column); only for those rows is the test made on the row's own tags, found by its primary key.
 */
export function tagsMatch(test: string): string {
  // The window's bounds ($2, $3) repeated so that the probe is planned over the window's partitions only.
  return `coalesce(e.notable_tags ${test}, (SELECT t.tags ${test} FROM events t
                    WHERE t."timestamp" = e."timestamp" AND t.id = e.id
                      AND t."timestamp" >= $2 AND t."timestamp" <= $3))`;
}

export const TIMELINE_SQL = `
  WITH changes AS (
    SELECT at AS ts, 0 AS rank, lpad(id::text, 20, '0') AS key,
           jsonb_build_object('kind', 'change', 'type', kind, 'source', 'incident', 'actor', actor, 'message', message,
                              'details', details, 'created_by', actor) AS entry
      FROM incident_timeline WHERE incident_id = $1 ORDER BY at, id LIMIT $9
  ), alerts AS (
    SELECT t.at AS ts, 1 AS rank, lpad(t.id::text, 20, '0') AS key,
           jsonb_build_object('kind', 'alert', 'source', '${ALERTER_SOURCE}', 'transition_id', t.id, 'rule_id',
             t.rule_id, 'rule_name', t.rule_name,
                              'fingerprint', t.fingerprint, 'labels', t.labels, 'from', t.from_state, 'to', t.to_state,
                                'value', t.value,
                              'message', format('alert %s %s → %s', t.rule_name, t.from_state, t.to_state),
                              'created_by', '${ALERTER_ACTOR}') AS entry
      FROM incident_alerts a
      CROSS JOIN LATERAL (
        SELECT * FROM alert_transitions t
         WHERE t.rule_id = a.rule_id AND t.at >= $2 AND t.at <= $3 AND t.fingerprint = a.fingerprint
         ORDER BY t.at, t.id LIMIT $9) t
     WHERE a.incident_id = $1
  ), candidates AS (
    SELECT c."timestamp" AS ts, 2 AS rank, c.id::text AS key, NULL::jsonb AS entry, c.id AS event_id
      FROM unnest($4::text[]) AS s(source)
      CROSS JOIN LATERAL (
        SELECT e."timestamp", e.id FROM events e
         WHERE e.source = s.source AND e."timestamp" >= $2 AND e."timestamp" <= $3
           AND (e.level IN ('warn', 'error', 'fatal') OR e.event_type = 'alert')
           AND (s.source = ANY($5::text[]) OR ($6::jsonb <> '{}' AND ${tagsMatch('@> $6::jsonb')}))
         ORDER BY e."timestamp", e.id LIMIT $9) c
  ), system_alerts AS (
    SELECT e."timestamp" AS ts, 2 AS rank, e.id::text AS key, NULL::jsonb AS entry, e.id AS event_id
      FROM events e
     WHERE e.source = '${ALERTER_ACTOR}' AND e.event_type = 'alert' AND e.created_by = '${ALERTER_ACTOR}'
       AND e."timestamp" >= $2 AND e."timestamp" <= $3
       AND NOT ${tagsMatch('@> ANY($7::jsonb[])')}
     ORDER BY e."timestamp", e.id LIMIT $9
  ), page AS (
    SELECT * FROM (
      SELECT ts, rank, key, entry, NULL::uuid AS event_id FROM changes
      UNION ALL SELECT ts, rank, key, entry, NULL::uuid FROM alerts
      UNION ALL SELECT * FROM candidates
      UNION ALL SELECT * FROM system_alerts) x
     ORDER BY ts, rank, key LIMIT $8 OFFSET $10
  )
  SELECT p.ts,
         coalesce(p.entry, jsonb_build_object('kind', 'event', 'id', e.id, 'event_type', e.event_type, 'source',
           e.source, 'level', e.level,
                                               'message', e.message, 'tags', e.tags, 'payload', e.payload,
                                               'created_by', e.created_by)) AS entry
    FROM page p
    LEFT JOIN LATERAL (SELECT * FROM events e WHERE e."timestamp" = p.ts AND e.id = p.event_id AND e."timestamp" >= $2
      AND e."timestamp" <= $3) e ON true
   ORDER BY p.ts, p.rank, p.key`;

export async function timelineParams(
  db: Queryable,
  incident: IncidentRow,
  page: { limit: number; offset: number },
  nowMs = Date.now(),
) {
  const w = timelineWindow(incident, nowMs);
  const scope = await loadScope(db, incident);
  const hasTags = Object.keys(scope.tags).length > 0;
  const tagged = hasTags ? (await sourcesWithNotableEvents(db, w)).filter((s) => !isSystemSource(s)) : [];
  const read = new Set([...scope.sources, ...tagged]);
  return {
    window: w,
    values: [
      incident.id,
      w.from.toISOString(),
      w.to.toISOString(),
      [...read],
      scope.sources,
      JSON.stringify(scope.tags),
      // The alerter's events of the attached series (tags = the series' labels + rule_id), shown as transitions
      // instead.
      scope.series.map((s) => JSON.stringify({ ...s.labels, rule_id: s.rule_id })),
      page.limit + 1,
      page.offset + page.limit + 1,
      page.offset,
    ],
  };
}

export async function readTimeline(
  pool: Queryable,
  incident: IncidentRow,
  page: { limit: number; offset: number },
  nowMs = Date.now(),
): Promise<TimelinePage> {
  const { window, values } = await timelineParams(pool, incident, page, nowMs);
  const found = await rows<{ ts: Date; entry: Omit<TimelineEntryJson, 'timestamp'> }>(pool, TIMELINE_SQL, values);
  return {
    incident_id: incident.id,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    limit: page.limit,
    offset: page.offset,
    has_more: found.length > page.limit,
    entries: found
      .slice(0, page.limit)
      .map((r) => ({ timestamp: r.ts.toISOString(), ...r.entry }) as TimelineEntryJson),
  };
}
