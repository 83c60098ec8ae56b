/**
 * Keeps metric_series (infra/migrations/0004) — the running state of every series that the Prometheus exposition
 * serves — by folding in, every QUERY_FOLD_INTERVAL_SECONDS, the samples *inserted* since the last fold. Nothing
 * is added to the writer's transactions: a per-series upsert there costs about as much as the COPY of the sample
 * itself (measured: bench/README.md), while one fold merges many batches' worth of samples per series.
 *
 * Exactness. A sample's created_at is DEFAULT now(), i.e. the start time of the transaction that inserted it, and
 * pg_stat_activity.xact_start is that same value for transactions still running. The watermark W is taken BEFORE
 * the fold reads anything: W = min(now, xact_start of every other running transaction in this database). Any row
 * with created_at < W was written by a transaction that had already ended when W was taken, so the fold (which
 * starts later) sees it if it committed; any row with created_at >= W is left to the next fold. The state and
 * folded_before commit together, and a scrape reads both plus the samples with created_at >= folded_before in one
 * statement (one snapshot), so every stored sample is counted exactly once, late timestamps included.
 * If this database role cannot see other roles' sessions (no pg_read_all_stats), the fold refuses to advance.
 *
 * The same transaction merges the folded samples into metric_minutes (infra/migrations/0026: per series and minute,
 * the newest sample, count and sum), which the PromQL loader reads for folded time (promql-data.ts), and deletes
 * the minutes older than the retention; then it keeps metric_hours (infra/migrations/0027: the same minutes packed
 * per series and hour) in step for the hours it holds, and builds a few more (keepHours).
 *
 * Several query replicas may run the loop; a session advisory lock lets one fold at a time.
 */
import type { Logger } from '../../shared/logger.ts';
import { inTransaction, release, type Pool, type PoolClient } from '../../shared/db/pool.ts';
import { BUCKET_BOUNDS } from '../../shared/promql/series-model.ts';
import { Where } from './sql.ts';

/** Histogram bucket bounds (`le`): one list for the fold, the exposition, PromQL and the alerter's windows. */
export { BUCKET_BOUNDS };

const LOCK_KEY = 'vigil.metric_series_fold';

/** The width of a metric_minutes row (infra/migrations/0026): the samples of one series in ((m - 1) min, m min]. */
export const MINUTE_MS = 60_000;

/** A sample's time in milliseconds as the PromQL loader computes and compares it (the same float8 everywhere). */
export const SAMPLE_MS_SQL = '(extract(epoch FROM "timestamp") * 1000)::float8';

/** The metric_minutes row a sample time `t` (SAMPLE_MS_SQL) falls in. */
export function minuteOfSql(t: string): string {
  return `ceil(${t} / ${MINUTE_MS})::integer`;
}

/** Minutes per metric_hours row (infra/migrations/0027): hour h holds the minutes h * 60 < m <= h * 60 + 60. */
export const MINUTES_PER_HOUR = 60;

/** The metric_hours row a metric_minutes minute (an integer expression) falls in. */
export function hourOfSql(minute: string): string {
  return `floor((${minute} - 1)::float8 / ${MINUTES_PER_HOUR})::integer`;
}

/**
 * Minute rows (series × 60 per hour) the fold packs per run beyond the hours late samples change, closing hours
 * first, then older ones: at least one hour, at most MAX_HOURS_BUILT_PER_FOLD. Measured: 625,000 minute rows (6
 * hours of 1,736 series) pack in ~7 s on a busy 2-core machine (bench/README.md, PromQL query_range).
 */
export const MINUTE_ROWS_BUILT_PER_FOLD = 250_000;
export const MAX_HOURS_BUILT_PER_FOLD = 24;
/**
 * metric_hours rows written before rows had a version (infra/migrations/0028) that a fold stamps with one: the
 * query role caches only versioned hours. Each is a rewrite of a row of under 2 kB, cheaper than building one.
 */
export const HOURS_VERSIONED_PER_FOLD = 10_000;

/** How many hours a fold builds when `series` series are kept. */
export function hoursBuiltPerFold(series: number, minuteRows = MINUTE_ROWS_BUILT_PER_FOLD): number {
  const perHour = Math.max(1, series) * MINUTES_PER_HOUR;
  return Math.max(1, Math.min(MAX_HOURS_BUILT_PER_FOLD, Math.floor(minuteRows / perHour)));
}

/**
 * Packs the metric_minutes rows that `from` (a FROM clause naming them m) yields into metric_hours rows, replacing
 * the rows already there: per series and hour, each column's entries concatenated in minute order (big-endian
 * float8 and int4, as the loader unpacks them).
 */
export function hoursBuildSql(from: string): string {
  const packed = (send: string, column: string) => `string_agg(${send}(m.${column}), ''::bytea ORDER BY m.minute)`;
  return `INSERT INTO metric_hours AS h (name, metric_type, series, hour, last_ms, last_value, sample_counts,
                                      value_sums)
          SELECT m.name, m.metric_type, m.series, ${hourOfSql('m.minute')}, ${packed('float8send', 'last_ms')},
                 ${packed('float8send', 'last_value')}, ${packed('int4send', 'sample_count')},
                 ${packed('float8send', 'value_sum')}
            FROM ${from}
           GROUP BY 1, 2, 3, 4
           ORDER BY 1, 2, 3, 4
          ON CONFLICT (name, metric_type, series, hour) DO UPDATE SET
            last_ms = EXCLUDED.last_ms, last_value = EXCLUDED.last_value, sample_counts = EXCLUDED.sample_counts,
            value_sums = EXCLUDED.value_sums`;
}

interface HoursState {
  hours_from: number | null;
  hours_before: number | null;
  hours_synced_before: Date | number | null;
}

/**
 * Keeps metric_hours in step with metric_minutes after the fold merged the samples created in [from, watermark)
 * (`synced`: hours_synced_before, earlier when an older replica folded without it): rebuilds the hours in
 * [hours_from, hours_before) those samples changed, then builds `perFold` more hours at most: the hours that
 * closed (before the watermark's hour), then older ones down to the oldest minute kept (`oldestMinute`, past the
 * retention cut). Returns the new bounds.
 */
async function keepHours(
  client: PoolClient,
  state: HoursState,
  watermark: Date,
  minutes: { cutoff: number; oldest: number | null },
  perFold: number,
): Promise<{ from: number; before: number; pending: boolean }> {
  const closed = Math.floor(watermark.getTime() / (MINUTE_MS * MINUTES_PER_HOUR));
  let from = state.hours_from ?? closed;
  let before = state.hours_before ?? closed;
  // The hours whose minutes the retention cut keeps whole; nothing older than the oldest minute needs building.
  const kept = Math.ceil((minutes.cutoff - 1) / MINUTES_PER_HOUR);
  if (from < kept) {
    await client.query('DELETE FROM metric_hours WHERE hour < $1', [kept]);
    from = kept;
    before = Math.max(before, from);
  }
  const floor = minutes.oldest === null ? from : Math.max(kept, Math.floor((minutes.oldest - 1) / MINUTES_PER_HOUR));
  if (state.hours_from !== null && before > from) {
    const synced = state.hours_synced_before instanceof Date ? state.hours_synced_before : '-infinity';
    const fresh = new Where().add('created_at >= ?::timestamptz', synced).add('created_at < ?', watermark);
    const hour = hourOfSql(minuteOfSql('t'));
    const lo = fresh.param(from);
    const hi = fresh.param(before);
    await client.query(
      hoursBuildSql(`(SELECT DISTINCT name, metric_type, sha256(jsonb_send(labels)) AS series, ${hour} AS hour
                        FROM (SELECT name, metric_type, labels, ${SAMPLE_MS_SQL} AS t FROM metrics ${fresh}) f
                       WHERE ${hour} >= ${lo} AND ${hour} < ${hi}) touched
                     JOIN metric_minutes m ON m.name = touched.name AND m.metric_type = touched.metric_type
                      AND m.series = touched.series AND m.minute > touched.hour * ${MINUTES_PER_HOUR}
                      AND m.minute <= (touched.hour + 1) * ${MINUTES_PER_HOUR}`),
      fresh.values,
    );
  }
  const build = (lo: number, hi: number) =>
    client.query(
      hoursBuildSql(`metric_minutes m WHERE m.minute > $1::integer * ${MINUTES_PER_HOUR}
                                        AND m.minute <= $2::integer * ${MINUTES_PER_HOUR}`),
      [lo, hi],
    );
  // Hours without minutes need no row: the bounds skip them for free, and the budget goes to hours with minutes.
  const edge = await client.query<{ next: number | null; previous: number | null }>(
    `SELECT (SELECT min(minute) FROM metric_minutes WHERE minute > $1::integer * ${MINUTES_PER_HOUR}
                                                    AND minute <= $2::integer * ${MINUTES_PER_HOUR}) AS next,
            (SELECT max(minute) FROM metric_minutes WHERE minute > $3::integer * ${MINUTES_PER_HOUR}
                                                    AND minute <= $4::integer * ${MINUTES_PER_HOUR}) AS previous`,
    [before, Math.max(before, closed), Math.min(floor, from), from],
  );
  const { next, previous } = edge.rows[0];
  if (next === null) before = Math.max(before, closed);
  else before = Math.max(before, Math.floor((next - 1) / MINUTES_PER_HOUR));
  if (previous === null) from = Math.min(from, floor);
  else from = Math.min(from, Math.floor((previous - 1) / MINUTES_PER_HOUR) + 1);
  const forward = Math.max(before, Math.min(closed, before + perFold));
  if (forward > before) await build(before, forward);
  const backward = Math.min(from, Math.max(floor, from - (perFold - (forward - before))));
  if (backward < from) await build(backward, from);
  before = forward;
  from = backward;
  return { from, before, pending: before < closed || from > floor };
}

/**
 * Merges the samples matching `where` into metric_minutes: per series and minute the newest sample (the greatest
 * [time, value], as the loader picks it), the count and the sum. Minutes already there add up.
 */
export function minutesFoldSql(where: Where): string {
  return `INSERT INTO metric_minutes AS m (name, metric_type, series, minute, last_ms, last_value, sample_count,
                                        value_sum)
          SELECT name, metric_type, series, minute, last[1], last[2], n, total
            FROM (SELECT name, metric_type, sha256(jsonb_send(labels)) AS series, ${minuteOfSql('t')} AS minute,
                         max(ARRAY[t, value]) AS last, count(*)::integer AS n, sum(value) AS total
                    FROM (SELECT name, metric_type, labels, ${SAMPLE_MS_SQL} AS t, value FROM metrics ${where}) fresh
                   GROUP BY 1, 2, 3, 4) minutes
           ORDER BY name, metric_type, series, minute
          ON CONFLICT (name, metric_type, series, minute) DO UPDATE SET
            last_ms      = CASE WHEN ARRAY[EXCLUDED.last_ms, EXCLUDED.last_value] > ARRAY[m.last_ms, m.last_value]
                                THEN EXCLUDED.last_ms ELSE m.last_ms END,
            last_value   = CASE WHEN ARRAY[EXCLUDED.last_ms, EXCLUDED.last_value] > ARRAY[m.last_ms, m.last_value]
                                THEN EXCLUDED.last_value ELSE m.last_value END,
            sample_count = m.sample_count + EXCLUDED.sample_count,
            value_sum    = m.value_sum + EXCLUDED.value_sum`;
}

/**
 * Per-series aggregates of the samples matching `where` (the caller adds the created_at range):
 * name, metric_type, labels, n, total, first_ts, last_ts, last_value, buckets.
 */
export function seriesAggregateSql(where: Where): string {
  const buckets = BUCKET_BOUNDS.map((b) => `count(*) FILTER (WHERE value <= ${where.param(b)}::float8)`).join(', ');
  return `SELECT name, metric_type, labels, count(*)::int8 AS n, sum(value) AS total, min("timestamp") AS first_ts,
                 max("timestamp") AS last_ts,
                 (max(ARRAY[extract(epoch FROM "timestamp")::float8, value]))[2] AS last_value,
                 CASE WHEN metric_type = 'histogram' THEN ARRAY[${buckets}]::int8[] END AS buckets
            FROM metrics ${where}
           GROUP BY name, metric_type, labels`;
}

/** The newest safe watermark, or null when other sessions' transactions cannot be seen. */
export async function safeWatermark(client: PoolClient): Promise<Date | null> {
  const { rows } = await client.query<{ watermark: Date | null; hidden: string }>(
    `SELECT least(now(), min(xact_start)) AS watermark,
            count(*) FILTER (WHERE state IS NULL AND backend_type = 'client backend') AS hidden
       FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()`,
  );
  if (Number(rows[0].hidden) > 0) return null;
  // now() of this autocommit statement when nothing else runs; the row is absent only if the view is empty.
  return rows[0].watermark ?? new Date();
}

export interface FoldResult {
  folded: boolean;
  /**
   * metric_hours still lacks hours it will build at the next folds (hoursBuiltPerFold at a time), or holds rows
   * without a version that they will stamp (HOURS_VERSIONED_PER_FOLD at a time).
   */
  hoursPending?: boolean;
  series?: number;
  watermark?: Date;
  reason?: string;
}

export interface FoldOptions {
  retentionDays: number;
  /** Minute rows packed into metric_hours per fold (default MINUTE_ROWS_BUILT_PER_FOLD). */
  hoursBuildRows?: number;
}

export async function foldOnce(pool: Pool, opts: FoldOptions): Promise<FoldResult> {
  const client = await pool.connect();
  let locked = false;
  try {
    const lock = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [
      LOCK_KEY,
    ]);
    locked = lock.rows[0].locked;
    if (!locked) return { folded: false, reason: 'another replica is folding' };
    const watermark = await safeWatermark(client);
    if (!watermark)
      return { folded: false, reason: 'cannot see other sessions in pg_stat_activity (grant pg_read_all_stats)' };

    return await inTransaction(client, async () => {
      await client.query('SET LOCAL statement_timeout = 0');
      const state = await client.query<{
        folded_before: Date | number;
        bucket_bounds: number[];
        minutes_before: Date | number | null;
        hours_from: number | null;
        hours_before: number | null;
        hours_synced_before: Date | number | null;
      }>(
        `SELECT folded_before, bucket_bounds, minutes_before, hours_from, hours_before, hours_synced_before
           FROM metric_series_fold FOR UPDATE`,
      );
      let hours: HoursState = { hours_from: null, hours_before: null, hours_synced_before: null };
      let minutesFrom: Date | string = '-infinity';
      let from: Date | string = '-infinity';
      const sameBounds = state.rows[0] && JSON.stringify(state.rows[0].bucket_bounds) === JSON.stringify(BUCKET_BOUNDS);
      if (!state.rows[0]) {
        await client.query("INSERT INTO metric_series_fold (folded_before, bucket_bounds) VALUES ('-infinity', $1)", [
          BUCKET_BOUNDS,
        ]);
      } else if (!sameBounds) {
        await client.query('TRUNCATE metric_series, metric_minutes, metric_hours');
        await client.query(
          `UPDATE metric_series_fold SET folded_before = '-infinity', minutes_before = '-infinity', bucket_bounds = $1,
                  hours_from = NULL, hours_before = NULL, hours_synced_before = NULL`,
          [BUCKET_BOUNDS],
        );
      } else {
        // pg parses '-infinity' as a number: that case keeps '-infinity'
        if (state.rows[0].folded_before instanceof Date) from = state.rows[0].folded_before;
        if (state.rows[0].minutes_before instanceof Date) minutesFrom = state.rows[0].minutes_before;
        hours = state.rows[0];
      }
      if (from instanceof Date && watermark <= from) return { folded: false, reason: 'nothing new' };
      const where = new Where().add('created_at >= ?::timestamptz', from).add('created_at < ?', watermark);
      const merged = await client.query(
        `INSERT INTO metric_series AS s (name, metric_type, labels, sample_count, value_sum, first_timestamp,
                                         last_timestamp, last_value, bucket_counts)
         SELECT name, metric_type, labels, n, total, first_ts, last_ts, last_value, buckets
           FROM (${seriesAggregateSql(where)}) fresh
          ORDER BY name, metric_type, labels
         ON CONFLICT (name, metric_type, sha256(jsonb_send(labels))) DO UPDATE SET
           sample_count   = s.sample_count + EXCLUDED.sample_count,
           value_sum      = s.value_sum + EXCLUDED.value_sum,
           last_value     = CASE WHEN EXCLUDED.last_timestamp >= s.last_timestamp THEN EXCLUDED.last_value
                                 ELSE s.last_value END,
           first_timestamp = CASE WHEN s.first_timestamp IS NOT NULL
                                  THEN least(s.first_timestamp, EXCLUDED.first_timestamp) END,
           last_timestamp = greatest(s.last_timestamp, EXCLUDED.last_timestamp),
           bucket_counts  = vigil_add_counts(s.bucket_counts, EXCLUDED.bucket_counts)`,
        where.values,
      );
      // From metric_minutes' own watermark: behind folded_before when an older replica folded without it.
      const fresh = new Where().add('created_at >= ?::timestamptz', minutesFrom).add('created_at < ?', watermark);
      await client.query(minutesFoldSql(fresh), fresh.values);
      // A series whose newest sample is past retention has no samples left: it leaves the exposition.
      await client.query(`DELETE FROM metric_series WHERE last_timestamp < now() - make_interval(days => $1)`, [
        opts.retentionDays,
      ]);
      const cutoff = minuteOfSql(`(extract(epoch FROM now() - make_interval(days => $1)) * 1000)::float8`);
      const kept = await client.query<{ cutoff: number; oldest: number | null }>(
        `WITH cut AS (DELETE FROM metric_minutes WHERE minute < ${cutoff})
         SELECT ${cutoff} AS cutoff, (SELECT min(minute) FROM metric_minutes WHERE minute >= ${cutoff}) AS oldest`,
        [opts.retentionDays],
      );
      const series = await client.query<{ n: number }>('SELECT count(*)::integer AS n FROM metric_series');
      const perFold = hoursBuiltPerFold(series.rows[0].n, opts.hoursBuildRows);
      const built = await keepHours(client, hours, watermark, kept.rows[0], perFold);
      const versioned = await client.query(
        `UPDATE metric_hours SET version = nextval('metric_hours_version')
          WHERE ctid = ANY(ARRAY(SELECT ctid FROM metric_hours WHERE version IS NULL LIMIT $1))`,
        [HOURS_VERSIONED_PER_FOLD],
      );
      await client.query(
        `UPDATE metric_series_fold SET folded_before = $1, minutes_before = $1, hours_synced_before = $1,
                hours_from = $2, hours_before = $3, folded_at = now()`,
        [watermark, built.from, built.before],
      );
      const unversioned = versioned.rowCount === HOURS_VERSIONED_PER_FOLD;
      return { folded: true, series: merged.rowCount ?? 0, watermark, hoursPending: built.pending || unversioned };
    });
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock(hashtext($1))', [LOCK_KEY]).catch(() => {});
    release(client);
  }
}

export interface FoldLoop {
  /** Runs one fold now (tests, benchmarks) after any fold in progress; answers this fold's own result only. */
  foldNow(): Promise<FoldResult>;
  stop(): Promise<void>;
}

/** Folds every `intervalMs`; failures are logged and retried at the next tick. stop() waits for a running fold. */
export function startFoldLoop(
  pool: Pool,
  logger: Logger,
  opts: { intervalMs: number; retentionDays: number },
): FoldLoop {
  let running: Promise<FoldResult> = Promise.resolve({ folded: false });
  let stopped = false;
  const fold = (): Promise<FoldResult> => {
    running = running
      .catch(() => ({ folded: false }))
      .then(() => foldOnce(pool, opts))
      .catch((error) => {
        logger.warn({ err: error }, 'metric series fold failed; retrying at the next interval');
        return { folded: false, reason: (error as Error).message };
      });
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void fold();
  }, opts.intervalMs);
  timer.unref();
  void fold();
  return {
    foldNow: fold,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running.catch(() => {});
    },
  };
}
