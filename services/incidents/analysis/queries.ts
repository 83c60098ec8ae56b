/**
 * The reads of a root-cause analysis, each bounded by time and by index:
 *   sourceCounts     per-source events and errors before the start and in the baseline, from the per-minute rollups
 *                    (never from the raw events), plus each source's per-minute errors before the start (onset);
 *   firstErrors      the first error event of each given source since a time (partial index, LIMIT 1 per source);
 *   errorTags        tag values on the error events of the given sources (partial index, capped per source);
 *   requestIds       request ids (tags or payload `request_id`) on warn+ events of two or more sources;
 *   metricDeviations per metric series, mean before the start against the baseline's mean and deviation.
 */
import { rows, type Queryable } from '../sql.ts';

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
  const found = await rows<{ source: string; events_before: string; errors_before: string; events_baseline: string; errors_baseline: string; minutes: [string, string][] | null }>(
    db,
    `SELECT source,
            coalesce(sum(count) FILTER (WHERE bucket >= $2), 0) AS events_before,
            coalesce(sum(count) FILTER (WHERE bucket >= $2 AND level IN ${ERROR_LEVELS}), 0) AS errors_before,
            coalesce(sum(count) FILTER (WHERE bucket < $2), 0) AS events_baseline,
            coalesce(sum(count) FILTER (WHERE bucket < $2 AND level IN ${ERROR_LEVELS}), 0) AS errors_baseline,
            (SELECT json_agg(json_build_array((extract(epoch FROM m.bucket) * 1000)::int8::text, m.n::text) ORDER BY m.bucket)
               FROM (SELECT r2.bucket, sum(r2.count) AS n FROM rollups r2
                      WHERE r2.kind = 'event' AND r2.event_type <> 'alert' AND r2.source = r.source AND r2.bucket >= $2 AND r2.bucket < $3 AND r2.level IN ${ERROR_LEVELS}
                      GROUP BY r2.bucket) m) AS minutes
       FROM rollups r
      WHERE kind = 'event' AND event_type <> 'alert' AND bucket >= $1 AND bucket < $3
      GROUP BY source
     HAVING sum(count) FILTER (WHERE bucket >= $2 AND level IN ${ERROR_LEVELS}) > 0`,
    [iso(w.baselineFrom), iso(w.beforeFrom), iso(w.start)],
  );
  return found.map((r) => ({
    source: r.source,
    events_before: Number(r.events_before),
    errors_before: Number(r.errors_before),
    events_baseline: Number(r.events_baseline),
    errors_baseline: Number(r.errors_baseline),
    minutes: (r.minutes ?? []).map(([t, n]) => [Number(t), Number(n)] as [number, number]),
  }));
}

export interface EventRef {
  id: string;
  timestamp: string;
  source: string;
  level: string | null;
  message: string | null;
}

/** The first error event of each source at or after its `since` and before the start. */
export async function firstErrors(db: Queryable, since: { source: string; from: Date }[], start: Date): Promise<EventRef[]> {
  if (since.length === 0) return [];
  const found = await rows<EventRef & { ts: Date }>(
    db,
    `SELECT e.id, e."timestamp" AS ts, e.source, e.level, e.message
       FROM unnest($1::text[], $2::timestamptz[]) AS s(source, since)
       CROSS JOIN LATERAL (
         SELECT * FROM events e
          WHERE e.source = s.source AND e."timestamp" >= s.since AND e."timestamp" < $3 AND ${NOTABLE} AND e.level IN ${ERROR_LEVELS}
          ORDER BY e."timestamp" LIMIT 1) e
      ORDER BY e."timestamp"`,
    [since.map((s) => s.source), since.map((s) => iso(s.from)), iso(start)],
  );
  return found.map((r) => ({ id: r.id, timestamp: r.ts.toISOString(), source: r.source, level: r.level, message: r.message }));
}

export interface TagCount {
  source: string;
  key: string;
  value: string;
  errors_before: number;
  errors_baseline: number;
  first_at: Date | null;
}

/** Tag values on the error events of `sources` (the newest PER_SOURCE_CAP of each), before the start and in the baseline. */
export async function errorTags(db: Queryable, sources: string[], w: Windows): Promise<TagCount[]> {
  if (sources.length === 0) return [];
  const found = await rows<{ source: string; key: string; value: string; errors_before: string; errors_baseline: string; first_at: Date | null }>(
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
          WHERE e.source = s.source AND e."timestamp" >= $2 AND e."timestamp" < $4 AND ${NOTABLE} AND e.level IN ${ERROR_LEVELS}
          ORDER BY e."timestamp" DESC LIMIT ${PER_SOURCE_CAP}) e
       CROSS JOIN LATERAL jsonb_each_text(e.tags) kv
      WHERE kv.key <> ALL($5::text[]) AND length(kv.value) <= 200
      GROUP BY 1, 2, 3`,
    [sources, iso(w.baselineFrom), iso(w.beforeFrom), iso(w.start), HIGH_CARDINALITY_KEYS],
  );
  return found.map((r) => ({ ...r, errors_before: Number(r.errors_before), errors_baseline: Number(r.errors_baseline) }));
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
export async function requestIds(db: Queryable, sources: string[], w: Windows, limit = 20): Promise<RequestIdCrossing[]> {
  if (sources.length < 2) return [];
  const found = await rows<{ request_id: string; sources: string[]; first_source: string; first_at: Date; events: string; errors: string }>(
    db,
    `SELECT rid AS request_id, array_agg(DISTINCT source ORDER BY source) AS sources,
            (array_agg(source ORDER BY ts, source))[1] AS first_source, min(ts) AS first_at,
            count(*) AS events, count(*) FILTER (WHERE level IN ${ERROR_LEVELS}) AS errors
       FROM (SELECT s.source, e."timestamp" AS ts, e.level, coalesce(e.tags->>'request_id', e.payload->>'request_id') AS rid
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
  return found.map((r) => ({ ...r, first_at: r.first_at.toISOString(), events: Number(r.events), errors: Number(r.errors) }));
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
  const found = await rows<{ name: string; labels: string; mean_before: number; samples_before: string; mean_baseline: number; stddev_baseline: number | null; samples_baseline: string }>(
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
