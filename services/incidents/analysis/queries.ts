/**
 * The reads of a root-cause analysis, each bounded by time and by index:
 *   sourceCounts     per-source events and errors before the start and in the baseline, from the per-minute rollups
 *                    (never from the raw events), plus each source's per-minute errors before the start (onset);
 *                    never the system's sources (the alerter's alert events are the symptom, not a cause, and
 *                    rollups do not say who wrote a row, so anything else stored under those names is ignored);
 *   firstErrors      the first error event of each given source since a time (partial index, LIMIT 1 per source);
 *   errorTags        tag values on the error events of the given sources (partial index, capped per source);
 *   requestIds       request ids (tags or payload `request_id`) on warn+ events of two or more sources;
 *   requestEdges     failing requests (error events of one request id) shared by two sources, counted per ordered
 *                    pair of who logged first and who after: the service graph of the failure;
 *   metricDeviations per metric series, mean before the start against the baseline's mean and deviation;
 *   metricOnsets     the first sample of given series before the start that left their baseline band;
 *   deployMarkers    the newest event tagged `deploy` of each given source shortly before a given time;
 *   alertOnsets      when each alert series that went pending or firing in the window became active;
 *   failingSpans     the failing spans (OTLP spans stored as `trace` events with level error) of given sources;
 *   errorTraceIds    the trace ids (tag `trace_id`: OTLP spans and log records) on the error events of given
 *                    sources, the earliest few of each.
 */
import { SYSTEM_SOURCES } from '../../../shared/auth/identity.ts';
import { rows, type Queryable } from '../sql.ts';

import { MS_PER_SECOND } from '../../../shared/units.ts';

export interface Windows {
  baselineFrom: Date;
  beforeFrom: Date;
  start: Date;
  /** End of the window searched for request ids crossing sources (a little after the start). */
  crossTo: Date;
}

export interface SourceCounts {
  source: string;
  events_before: number;
  errors_before: number;
  events_baseline: number;
  errors_baseline: number;
  /** Errors per minute bucket before the start, [epoch ms, count] in time order. */
  minutes: [number, number][];
}

const iso = (d: Date) => d.toISOString();
const ERROR_LEVELS = "('error', 'fatal')";
/** Must appear verbatim in a query for PostgreSQL to use the partial index events_notable_idx (migration 0011). */
const NOTABLE = "(e.level IN ('warn', 'error', 'fatal') OR e.event_type = 'alert')";
const PER_SOURCE_CAP = 20_000;
const HIGH_CARDINALITY_KEYS = ['request_id', 'trace_id', 'span_id', 'correlation_id', 'id'];

export async function sourceCounts(db: Queryable, w: Windows): Promise<SourceCounts[]> {
  // One pass over the window's rollups, per source and minute; the sums and the minutes before the start are
  // folded here (a correlated subquery per source for its minutes cost as much again as the scan).
  const found = await rows<{ source: string; bucket: Date; events: string; errors: string }>(
    db,
    `SELECT source, bucket, sum(count) AS events, coalesce(sum(count) FILTER (WHERE level IN ${ERROR_LEVELS}), 0) AS
       errors
       FROM rollups
      WHERE kind = 'event' AND event_type <> 'alert' AND bucket >= $1 AND bucket < $2 AND source <> ALL($3::text[])
      GROUP BY source, bucket`,
    [iso(w.baselineFrom), iso(w.start), SYSTEM_SOURCES],
  );
  const beforeFrom = w.beforeFrom.getTime();
  const bySource = new Map<string, SourceCounts>();
  for (const r of found) {
    let c = bySource.get(r.source);
    if (!c)
      bySource.set(
        r.source,
        (c = {
          source: r.source,
          events_before: 0,
          errors_before: 0,
          events_baseline: 0,
          errors_baseline: 0,
          minutes: [],
        }),
      );
    const events = Number(r.events);
    const errors = Number(r.errors);
    const t = r.bucket.getTime();
    if (t >= beforeFrom) {
      c.events_before += events;
      c.errors_before += errors;
      if (errors > 0) c.minutes.push([t, errors]);
    } else {
      c.events_baseline += events;
      c.errors_baseline += errors;
    }
  }
  const out = [...bySource.values()].filter((c) => c.errors_before > 0);
  for (const c of out) c.minutes.sort((x, y) => x[0] - y[0]);
  return out;
}

export interface EventRef {
  id: string;
  timestamp: string;
  source: string;
  level: string | null;
  message: string | null;
  /** The event's tag `trace_id` (OTLP spans and log records carry it), or null. */
  trace_id: string | null;
}

/** The first error event of each source at or after its `since` and before the start. */
export async function firstErrors(
  db: Queryable,
  since: { source: string; from: Date }[],
  start: Date,
): Promise<EventRef[]> {
  if (since.length === 0) return [];
  const found = await rows<EventRef & { ts: Date }>(
    db,
    `SELECT e.id, e."timestamp" AS ts, e.source, e.level, e.message, e.tags->>'trace_id' AS trace_id
       FROM unnest($1::text[], $2::timestamptz[]) AS s(source, since)
       CROSS JOIN LATERAL (
         SELECT * FROM events e
          WHERE e.source = s.source AND e."timestamp" >= s.since AND e."timestamp" < $3 AND ${NOTABLE} AND e.level IN
            ${ERROR_LEVELS}
          ORDER BY e."timestamp" LIMIT 1) e
      ORDER BY e."timestamp"`,
    [since.map((s) => s.source), since.map((s) => iso(s.from)), iso(start)],
  );
  return found.map((r) => ({
    id: r.id,
    timestamp: r.ts.toISOString(),
    source: r.source,
    level: r.level,
    message: r.message,
    trace_id: r.trace_id,
  }));
}

export interface TagCount {
  source: string;
  key: string;
  value: string;
  errors_before: number;
  errors_baseline: number;
  first_at: Date | null;
}

/**
 * Tag values on the error events of `sources` (the newest PER_SOURCE_CAP of each), before the start and in the
 * baseline.
 */
export async function errorTags(db: Queryable, sources: string[], w: Windows): Promise<TagCount[]> {
  if (sources.length === 0) return [];
  const found = await rows<{
    source: string;
    key: string;
    value: string;
    errors_before: string;
    errors_baseline: string;
    first_at: Date | null;
  }>(
    db,
    `SELECT s.source, kv.key, kv.value,
            count(*) FILTER (WHERE e."timestamp" >= $3) AS errors_before,
            count(*) FILTER (WHERE e."timestamp" < $3) AS errors_baseline,
            min(e."timestamp") FILTER (WHERE e."timestamp" >= $3) AS first_at
       FROM unnest($1::text[]) AS s(source)
       CROSS JOIN LATERAL (
         SELECT coalesce(e.notable_tags, (SELECT t.tags FROM events t
                                           WHERE t."timestamp" = e."timestamp" AND t.id = e.id
                                             AND t."timestamp" >= $2 AND t."timestamp" < $4)) AS tags,
                e."timestamp"
           FROM events e
          WHERE e.source = s.source AND e."timestamp" >= $2 AND e."timestamp" < $4 AND ${NOTABLE} AND e.level IN
            ${ERROR_LEVELS}
          ORDER BY e."timestamp" DESC LIMIT ${PER_SOURCE_CAP}) e
       CROSS JOIN LATERAL jsonb_each_text(e.tags) kv
      WHERE kv.key <> ALL($5::text[]) AND length(kv.value) <= 200
      GROUP BY 1, 2, 3`,
    [sources, iso(w.baselineFrom), iso(w.beforeFrom), iso(w.start), HIGH_CARDINALITY_KEYS],
  );
  return found.map((r) => ({
    ...r,
    errors_before: Number(r.errors_before),
    errors_baseline: Number(r.errors_baseline),
  }));
}

export interface RequestIdCrossing {
  request_id: string;
  sources: string[];
  first_source: string;
  first_at: string;
  events: number;
  errors: number;
}

/** Request ids carried by warn+ events of at least two of `sources` in [beforeFrom, crossTo]. */
export async function requestIds(
  db: Queryable,
  sources: string[],
  w: Windows,
  limit = 20,
): Promise<RequestIdCrossing[]> {
  if (sources.length < 2) return [];
  const found = await rows<{
    request_id: string;
    sources: string[];
    first_source: string;
    first_at: Date;
    events: string;
    errors: string;
  }>(
    db,
    `SELECT rid AS request_id, array_agg(DISTINCT source ORDER BY source) AS sources,
            (array_agg(source ORDER BY ts, source))[1] AS first_source, min(ts) AS first_at,
            count(*) AS events, count(*) FILTER (WHERE level IN ${ERROR_LEVELS}) AS errors
       FROM (SELECT s.source, e."timestamp" AS ts, e.level, coalesce(e.tags->>'request_id', e.payload->>'request_id') AS
         rid
               FROM unnest($1::text[]) AS s(source)
               CROSS JOIN LATERAL (
                 SELECT e.tags, e.payload, e.level, e."timestamp" FROM events e
                  WHERE e.source = s.source AND e."timestamp" >= $2 AND e."timestamp" <= $3 AND ${NOTABLE}
                  ORDER BY e."timestamp" LIMIT ${PER_SOURCE_CAP}) e) x
      WHERE rid IS NOT NULL
      GROUP BY rid
     HAVING count(DISTINCT source) >= 2
      ORDER BY count(DISTINCT source) DESC, count(*) FILTER (WHERE level IN ${ERROR_LEVELS}) DESC, min(ts), rid
      LIMIT $4`,
    [sources, iso(w.beforeFrom), iso(w.crossTo), limit],
  );
  return found.map((r) => ({
    ...r,
    first_at: r.first_at.toISOString(),
    events: Number(r.events),
    errors: Number(r.errors),
  }));
}

export interface RequestEdge {
  /** The source that logged the failing request first. */
  upstream: string;
  downstream: string;
  requests: number;
}

/**
 * Failing requests (error events carrying one request id, tag or payload `request_id`) that two or more of
 * `sources` logged in [beforeFrom, crossTo], counted per ordered pair (first logged by `upstream`, then by
 * `downstream`): over every such request, not a sample, so the counts say who fails first how often.
 */
export async function requestEdges(db: Queryable, sources: string[], w: Windows): Promise<RequestEdge[]> {
  if (sources.length < 2) return [];
  const found = await rows<{ upstream: string; downstream: string; requests: string }>(
    db,
    `WITH firsts AS (
       SELECT x.rid, x.source, min(x.ts) AS ts
         FROM (SELECT s.source, e."timestamp" AS ts, coalesce(e.tags->>'request_id', e.payload->>'request_id') AS rid
                 FROM unnest($1::text[]) AS s(source)
                 CROSS JOIN LATERAL (
                   SELECT e.tags, e.payload, e."timestamp" FROM events e
                    WHERE e.source = s.source AND e."timestamp" >= $2 AND e."timestamp" <= $3 AND ${NOTABLE}
                      AND e.level IN ${ERROR_LEVELS}
                    ORDER BY e."timestamp" LIMIT ${PER_SOURCE_CAP}) e) x
        WHERE x.rid IS NOT NULL
        GROUP BY x.rid, x.source)
     SELECT a.source AS upstream, b.source AS downstream, count(*) AS requests
       FROM firsts a JOIN firsts b ON a.rid = b.rid AND (a.ts, a.source) < (b.ts, b.source)
      GROUP BY 1, 2`,
    [sources, iso(w.beforeFrom), iso(w.crossTo)],
  );
  return found.map((r) => ({ upstream: r.upstream, downstream: r.downstream, requests: Number(r.requests) }));
}

/**
 * Epoch ms of the newest event tagged `deploy` (or `deployment`) of each source within `lookbackMs` before its time.
 */
export async function deployMarkers(
  db: Queryable,
  near: { source: string; at: Date }[],
  lookbackMs: number,
): Promise<{ source: string; at: number; version: string }[]> {
  if (near.length === 0) return [];
  const found = await rows<{ source: string; at: Date; version: string }>(
    db,
    `SELECT s.source, e."timestamp" AS at, coalesce(e.tags->>'deploy', e.tags->>'deployment', '') AS version
       FROM unnest($1::text[], $2::timestamptz[]) AS s(source, at)
       CROSS JOIN LATERAL (
         SELECT e."timestamp", e.tags FROM events e
          WHERE e.source = s.source AND e."timestamp" >= s.at - make_interval(secs => $3) AND e."timestamp" <= s.at
            AND (e.tags ? 'deploy' OR e.tags ? 'deployment')
          ORDER BY e."timestamp" DESC LIMIT 1) e`,
    [near.map((n) => n.source), near.map((n) => iso(n.at)), lookbackMs / MS_PER_SECOND],
  );
  return found.map((r) => ({ source: r.source, at: r.at.getTime(), version: r.version }));
}

export interface FailingSpan {
  source: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
}

/** Failing spans of `sources` in [beforeFrom, crossTo] (the partial index's tags hold their ids), capped per source. */
export async function failingSpans(db: Queryable, sources: string[], w: Windows): Promise<FailingSpan[]> {
  if (sources.length === 0) return [];
  return rows<FailingSpan>(
    db,
    `SELECT s.source, e.tags->>'trace_id' AS trace_id, e.tags->>'span_id' AS span_id, e.tags->>'parent_span_id' AS
       parent_span_id
       FROM unnest($1::text[]) AS s(source)
       CROSS JOIN LATERAL (
         SELECT e.tags FROM events e
          WHERE e.source = s.source AND e."timestamp" >= $2 AND e."timestamp" <= $3 AND ${NOTABLE}
            AND e.level IN ${ERROR_LEVELS} AND e.event_type = 'trace'
          ORDER BY e."timestamp" LIMIT ${PER_SOURCE_CAP}) e
      WHERE e.tags->>'trace_id' IS NOT NULL AND e.tags->>'span_id' IS NOT NULL`,
    [sources, iso(w.beforeFrom), iso(w.crossTo)],
  );
}

/**
 * The distinct trace ids on the error events of each of `sources` in [beforeFrom, crossTo] (its earliest
 * PER_SOURCE_CAP errors), the `perSource` earliest of each, in time order: the traces a person opens first.
 */
export async function errorTraceIds(
  db: Queryable,
  sources: string[],
  w: Windows,
  perSource: number,
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (sources.length === 0) return out;
  const found = await rows<{ source: string; trace_id: string }>(
    db,
    `SELECT s.source, t.trace_id
       FROM unnest($1::text[]) AS s(source)
       CROSS JOIN LATERAL (
         SELECT e.tags->>'trace_id' AS trace_id, min(e."timestamp") AS first_at
           FROM (SELECT e.tags, e."timestamp" FROM events e
                  WHERE e.source = s.source AND e."timestamp" >= $2 AND e."timestamp" <= $3 AND ${NOTABLE}
                    AND e.level IN ${ERROR_LEVELS}
                  ORDER BY e."timestamp" LIMIT ${PER_SOURCE_CAP}) e
          WHERE e.tags->>'trace_id' IS NOT NULL
          GROUP BY 1
          ORDER BY min(e."timestamp"), 1 LIMIT $4) t
      ORDER BY s.source, t.first_at, t.trace_id`,
    [sources, iso(w.beforeFrom), iso(w.crossTo), perSource],
  );
  for (const r of found) out.set(r.source, [...(out.get(r.source) ?? []), r.trace_id]);
  return out;
}

export interface AlertOnset {
  rule_name: string;
  labels: Record<string, string>;
  active_at: number;
}

/** Alert series that went pending or firing in [beforeFrom, start), with when they became active (at most 1000). */
export async function alertOnsets(db: Queryable, w: Windows): Promise<AlertOnset[]> {
  const found = await rows<{ rule_name: string; labels: Record<string, string>; active_at: Date }>(
    db,
    `SELECT rule_name, labels, min(active_at) AS active_at FROM alert_transitions
      WHERE at >= $1 AND at < $2 AND to_state IN ('pending', 'firing') AND active_at >= $1
      GROUP BY rule_name, labels ORDER BY min(active_at) LIMIT 1000`,
    [iso(w.beforeFrom), iso(w.start)],
  );
  return found.map((r) => ({ rule_name: r.rule_name, labels: r.labels, active_at: r.active_at.getTime() }));
}

export interface MetricDeviation {
  name: string;
  labels: Record<string, string>;
  mean_before: number;
  samples_before: number;
  mean_baseline: number;
  stddev_baseline: number;
  samples_baseline: number;
}

/** Series with samples both before the start and in the baseline (at least 3 there, to have a deviation). */
export async function metricDeviations(db: Queryable, w: Windows): Promise<MetricDeviation[]> {
  // Grouped by the labels' text, not the jsonb: jsonb's text form is canonical (sorted keys, no duplicates), so the
  // groups are the same, and hashing text cost ~40% less time on 150,000 samples (bench/incident.ts).
  const found = await rows<{
    name: string;
    labels: string;
    mean_before: number;
    samples_before: string;
    mean_baseline: number;
    stddev_baseline: number | null;
    samples_baseline: string;
  }>(
    db,
    `SELECT name, labels::text AS labels,
            avg(value) FILTER (WHERE "timestamp" >= $2) AS mean_before,
            count(*) FILTER (WHERE "timestamp" >= $2) AS samples_before,
            avg(value) FILTER (WHERE "timestamp" < $2) AS mean_baseline,
            stddev_samp(value) FILTER (WHERE "timestamp" < $2) AS stddev_baseline,
            count(*) FILTER (WHERE "timestamp" < $2) AS samples_baseline
       FROM metrics
      WHERE "timestamp" >= $1 AND "timestamp" < $3
      GROUP BY name, labels::text
     HAVING count(*) FILTER (WHERE "timestamp" >= $2) > 0 AND count(*) FILTER (WHERE "timestamp" < $2) >= 3`,
    [iso(w.baselineFrom), iso(w.beforeFrom), iso(w.start)],
  );
  return found.map((r) => ({
    name: r.name,
    labels: JSON.parse(r.labels) as Record<string, string>,
    mean_before: Number(r.mean_before),
    samples_before: Number(r.samples_before),
    mean_baseline: Number(r.mean_baseline),
    stddev_baseline: Number(r.stddev_baseline ?? 0),
    samples_baseline: Number(r.samples_baseline),
  }));
}

/** For each series, the first sample in [beforeFrom, start) whose distance from `mean` exceeds `band` (epoch ms). */
export async function metricOnsets(
  db: Queryable,
  series: { name: string; labels: Record<string, string>; mean: number; band: number }[],
  w: Windows,
): Promise<(number | null)[]> {
  if (series.length === 0) return [];
  const found = await rows<{ i: number; onset: Date }>(
    db,
    `SELECT s.i, m."timestamp" AS onset
       FROM unnest($1::text[], $2::jsonb[], $3::float8[], $4::float8[]) WITH ORDINALITY AS s(name, labels, mean, band,
         i)
       CROSS JOIN LATERAL (
         SELECT m."timestamp" FROM metrics m
          WHERE m.name = s.name AND m.labels = s.labels AND m."timestamp" >= $5 AND m."timestamp" < $6
            AND abs(m.value - s.mean) > s.band
          ORDER BY m."timestamp" LIMIT 1) m`,
    [
      series.map((x) => x.name),
      series.map((x) => JSON.stringify(x.labels)),
      series.map((x) => x.mean),
      series.map((x) => x.band),
      iso(w.beforeFrom),
      iso(w.start),
    ],
  );
  const onsets: (number | null)[] = series.map(() => null);
  for (const r of found) onsets[Number(r.i) - 1] = r.onset.getTime();
  return onsets;
}
