/**
 * Loads what a PromQL query's selectors read from the metrics table, bounded before it runs, and presents vigil's
 * samples as Prometheus series (the model of shared/promql/series-model.ts, which the alerter's windows build sample
 * by sample; the same presentation as the exposition, prometheus.ts):
 *   gauge        the stored samples as they are
 *   counter      running totals: samples are increments, so the value at a sample is the sum of every sample of
 *                the series up to it (all-time total from metric_series + the unfolded tail, minus what lies after)
 *   histogram    <name>_bucket{le} (cumulative counts of observations <= each bound of series-fold.ts, and +Inf),
 *                <name>_count and <name>_sum, running the same way; summaries give <name>_count and <name>_sum
 * A selector must name its metric, or its __name__ matchers must match at most MAX_NAMES known names.
 *
 * Step reduction. An instant selector evaluated at t0, t0 + step, … only ever yields, per series, the newest sample
 * at or before each instant. So the loader keeps, per series and step, the newest sample of those that the step
 * is the first one at or after (k = max(0, ceil((t - t0) / step))), with the count and sum of the samples it stands
 * for (what counters and _count/_sum add up; PostgreSQL packs each series' samples, Node groups them by step). The
 * newest of these at or before an instant is the newest sample at or before it: the evaluation is exactly the same,
 * over up to one point per step instead of every sample. Range selectors ([5m]) read every sample in their window.
 * Per-minute rows. When t0 and step are whole minutes, the folded samples come from metric_hours (one row per
 * series and hour holding its minutes as arrays) and metric_minutes (one row per series and minute, for the minutes
 * outside the hours it holds), both kept by series-fold.ts, and only the unfolded tail from metrics (loadMinutes):
 * same rows.
 * Bounds: at most MAX_SAMPLES samples are held per query: rows read (LIMIT), or points kept after step reduction
 * (then a 400 saying how to narrow it); QUERY_STATEMENT_TIMEOUT_MS bounds the statements.
 */
import { VigilError } from '../../shared/errors.ts';
import type { Pool } from '../../shared/db/pool.ts';
import { matches, Points, type Labels } from '../../shared/promql/windows.ts';
import type { SeriesSource, StoredSeries } from '../../shared/promql/engine.ts';
import type { VectorSelector } from '../../shared/promql/expr.ts';
import { formatValue } from './exposition.ts';
import { BUCKET_BOUNDS, MINUTE_MS, MINUTES_PER_HOUR, SAMPLE_MS_SQL, seriesAggregateSql } from './series-fold.ts';
import type { HourBlock, HourCache, SeriesHours } from './hour-cache.ts';
import { run, runInSnapshot, type SnapshotRun, type Statement, Where, withSnapshot } from './sql.ts';

export const MAX_SAMPLES = 2_000_000;
/** Stored samples one query may read (step reduction keeps fewer than it reads; the statement timeout also bounds). */
export const MAX_SAMPLES_READ = 20_000_000;
export const MAX_NAMES = 200;

type Kind = 'raw' | 'counter' | 'bucket' | 'count' | 'sum';

/** One Prometheus metric name mapped onto stored rows: which stored name and types, and how they are presented. */
interface Source {
  metric: string;
  stored: string;
  types: string[];
  kind: Kind;
}

export function tooLarge(message: string): VigilError {
  return new VigilError('VIGIL_ERR_VALIDATION', message, [{ field: 'query', message }]);
}

/** The stored rows a Prometheus metric name can come from. */
export function sourcesOf(metric: string): Source[] {
  const out: Source[] = [
    { metric, stored: metric, types: ['gauge'], kind: 'raw' },
    { metric, stored: metric, types: ['counter'], kind: 'counter' },
  ];
  const suffix = /_(bucket|count|sum)$/.exec(metric);
  if (suffix) {
    const stored = metric.slice(0, -suffix[0].length);
    if (suffix[1] === 'bucket') out.push({ metric, stored, types: ['histogram'], kind: 'bucket' });
    else out.push({ metric, stored, types: ['histogram', 'summary'], kind: suffix[1] as Kind });
  }
  return out;
}

/** Prometheus metric names of the stored (name, type) pairs. */
export function metricNamesOf(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_count`, `${name}_sum`];
  if (type === 'summary') return [`${name}_count`, `${name}_sum`];
  return [name];
}

const FOLD_SINCE = `coalesce((SELECT folded_before FROM metric_series_fold), '-infinity'::timestamptz)`;
/** metric_minutes holds the samples created before this (infra/migrations/0026). */
const MINUTES_SINCE = `coalesce((SELECT minutes_before FROM metric_series_fold), '-infinity'::timestamptz)`;

/** Every stored (name, metric_type) with a sample at or after `since`: the folded state plus the unfolded tail. */
export async function storedNames(pool: Pool, sinceMs: number): Promise<{ name: string; metric_type: string }[]> {
  return run(
    pool,
    `SELECT name, metric_type FROM metric_series WHERE last_timestamp >= $1
      UNION
     SELECT DISTINCT name, metric_type FROM metrics WHERE created_at >= ${FOLD_SINCE} AND "timestamp" >= $1`,
    [new Date(sinceMs)],
  );
}

export interface LoadRequest {
  selector: VectorSelector;
  /** Earliest and latest sample time the selector reads. */
  fromMs: number;
  toMs: number;
  /** An instant selector's evaluation instants (offset applied): startMs, startMs + stepMs, … ≤ toMs. */
  steps?: { startMs: number; stepMs: number };
}

/** Rows of one series per step (step reduction) or per sample: time, value, and how many samples with what sum. */
interface Loaded {
  labels: string;
  t: ArrayLike<number>;
  v: ArrayLike<number>;
  n: ArrayLike<number> | null;
  total: ArrayLike<number> | null;
  /** Stored samples read for this series. */
  read: number;
}

/** Sort and hash memory of the loading statement: one series' rows are grouped without spilling to disk. */
const LOAD_WORK_MEM = '64MB';
/**
 * Statements a per-minute read is split into (by series), run at once on two connections in one snapshot
 * (runInSnapshot): PostgreSQL builds one half on each core while Node decodes the other.
 */
const LOAD_PARTS = 2;

/** What a query has held (points in memory) and read (stored rows), against its bounds. */
export class Budget {
  samples = 0;
  read = 0;
  constructor(
    readonly maxSamples = MAX_SAMPLES,
    readonly maxRead = MAX_SAMPLES_READ,
  ) {}
  get remaining(): number {
    return this.maxSamples - this.samples;
  }
  get readRemaining(): number {
    return this.maxRead - this.read;
  }
}

export interface LoadOptions {
  /** Read metric_minutes where it gives the same answer (default true; false reads raw samples only). */
  minutes?: boolean;
  /** Decoded hour rows kept between queries (the query role's); without one every hour is read from the table. */
  hours?: HourCache;
}

/** Loads every series the selectors can read; the engine applies the matchers again (regexes are not pushed down). */
export async function loadSeries(
  pool: Pool,
  requests: LoadRequest[],
  budget = new Budget(),
  options: LoadOptions = {},
): Promise<SeriesSource> {
  const bySelector = new Map<VectorSelector, StoredSeries[]>();
  const cache = new Map<string, StoredSeries[]>();
  let names: { name: string; metric_type: string }[] | null = null;
  for (const { selector, fromMs, toMs, steps } of requests) {
    let metrics: string[];
    if (selector.name !== null) metrics = [selector.name];
    else {
      const earliest = Math.min(...requests.map((r) => r.fromMs));
      names ??= await storedNames(pool, earliest);
      const nameMatchers = selector.matchers.filter((m) => m.label === '__name__');
      metrics = [...new Set(names.flatMap((n) => metricNamesOf(n.name, n.metric_type)))].filter((n) =>
        nameMatchers.every((m) => matches(m, n)),
      );
      if (metrics.length > MAX_NAMES) {
        throw tooLarge(
          `the selector matches more than ${MAX_NAMES} metric names: name the metric or narrow its __name__ matcher`,
        );
      }
    }
    const exact: Labels = {};
    for (const m of selector.matchers)
      if (m.op === '=' && m.value !== '' && m.label !== '__name__' && m.label !== 'le') exact[m.label] = m.value;
    const found: StoredSeries[] = [];
    for (const metric of metrics) {
      for (const source of sourcesOf(metric)) {
        const window = { fromMs, toMs, steps: source.kind === 'bucket' ? undefined : steps };
        const key = [source.metric, source.kind, JSON.stringify(window), JSON.stringify(exact)].join('\u0000');
        let series = cache.get(key);
        if (!series) cache.set(key, (series = await loadSource(pool, source, window, exact, budget, options)));
        found.push(...series);
      }
    }
    bySelector.set(selector, found);
  }
  return { select: (selector) => bySelector.get(selector) ?? [] };
}

interface State {
  n: number;
  total: number;
  buckets: number[];
}

type Window = Omit<LoadRequest, 'selector'>;

async function loadSource(
  pool: Pool,
  source: Source,
  window: Window,
  exact: Labels,
  budget: Budget,
  options: LoadOptions,
): Promise<StoredSeries[]> {
  const minutes = options.minutes === false ? null : minuteRange(window);
  // Minute rows end at whole minutes: the samples after the last one read count as after the window.
  const toMs = minutes ? minutes.hi * MINUTE_MS : window.toMs;
  // Running totals need each series' state before the window: read in the same snapshot as the window's rows, so
  // that a sample committed in between counts in neither or in both.
  const bases = source.kind === 'raw' ? null : basesStatement(source, toMs);
  const { rows, baseRows } = minutes
    ? await loadMinutes(pool, source, window, minutes, exact, bases, options.hours ?? null)
    : await loadRows(pool, source, window, exact, budget, bases);
  budget.samples += rows.reduce((n, row) => n + row.t.length, 0);
  budget.read += rows.reduce((n, row) => n + row.read, 0);
  if (budget.samples > budget.maxSamples) {
    throw tooLarge(
      `the query reads more than ${budget.maxSamples} samples (series × points): narrow the time range, ` +
        'add label matchers, make the step longer, or shorten the ranges in [..]',
    );
  }
  if (budget.read > budget.maxRead) {
    throw tooLarge(
      `the query reads more than ${budget.maxRead} stored samples: narrow the time range, add label matchers, ` +
        'or shorten the ranges in [..]',
    );
  }
  if (rows.length === 0) return [];
  const basesByLabels = baseRows ? basesOf(baseRows) : null;
  const out: StoredSeries[] = [];
  for (const row of rows) {
    const labels = JSON.parse(row.labels) as Labels;
    if (source.kind === 'bucket' && 'le' in labels) continue; // the exposition leaves these out too
    const base = basesByLabels?.get(row.labels) ?? { n: 0, total: 0, buckets: BUCKET_BOUNDS.map(() => 0) };
    // The base is the running state just before the window: the all-time state minus what the window and after hold
    // (gauges present their values as they are: no base).
    for (let i = 0; source.kind !== 'raw' && i < row.t.length; i++) {
      const value = row.v[i];
      base.n -= row.n?.[i] ?? 1;
      base.total -= row.total?.[i] ?? value;
      if (source.kind === 'bucket') BUCKET_BOUNDS.forEach((bound, b) => (base.buckets[b] -= value <= bound ? 1 : 0));
    }
    out.push(...present(source, labels, row, base));
  }
  return out;
}

/** What a loader read: the window's rows, and the bases statement's rows when it was given one. */
interface LoadedRows {
  rows: Loaded[];
  baseRows: BaseRow[] | null;
}

/**
 * The window's samples from metrics, one row per series (so the labels travel once), as its samples in time order or
 * its step representatives. The inner LIMIT bounds the rows read; the budget check bounds the points kept.
 */
async function loadRows(
  pool: Pool,
  source: Source,
  window: Window,
  exact: Labels,
  budget: Budget,
  bases: Statement | null,
): Promise<LoadedRows> {
  const where = new Where()
    .add('name = ?', source.stored)
    .add('metric_type = ANY(?::text[])', source.types)
    .add('"timestamp" >= ?', new Date(window.fromMs))
    .add('"timestamp" <= ?', new Date(window.toMs));
  if (Object.keys(exact).length > 0) where.add('labels @> ?::jsonb', JSON.stringify(exact));
  const rowsAllowed = window.steps ? budget.readRemaining : Math.min(budget.remaining, budget.readRemaining);
  const limit = where.param(rowsAllowed + 1);
  // Per series its samples packed as minutesStatement packs entries, in the order read: grouping by the jsonb
  // labels is a hash of 1,000s of groups, where ordering by them (or grouping per step) sorts every sample by its
  // labels, 2–3× the time; Node orders them (sortedSamples) or groups them by step (reduceSamples).
  const sql = `SELECT labels::text AS labels, NULL AS series, NULL AS hours,
                      ${packedSql("string_agg(float8send(t), ''::bytea)", 't')},
                      ${packedSql("string_agg(float8send(value), ''::bytea)", 'v')},
                      NULL AS n, NULL AS total, count(*)::float8 AS entries
                 FROM (SELECT ${SAMPLE_MS_SQL} AS t, value, labels FROM metrics ${where} LIMIT ${limit}) window_rows
                GROUP BY labels`;
  const results = await runInSnapshot<object>(pool, [{ sql, values: where.values }, ...(bases ? [bases] : [])], {
    work_mem: LOAD_WORK_MEM,
  });
  const baseRows = bases ? (results.pop() as BaseRow[]) : null;
  const packed = results.flat() as Packed[];
  const { steps } = window;
  if (!steps) return { rows: packed.map(sortedSamples), baseRows };
  const grid: SampleGrid = { startMs: steps.startMs, stepMs: steps.stepMs, toMs: window.toMs };
  const scratch = stepScratch(Math.max(0, Math.ceil((grid.toMs - grid.startMs) / grid.stepMs)) + 1);
  const sums = source.kind !== 'raw';
  return { rows: packed.map((row) => reduceSamples(row, grid, sums, scratch)), baseRows };
}

/** The step grid of an instant selector read from samples: instants startMs + k stepMs, up to toMs. */
interface SampleGrid {
  startMs: number;
  stepMs: number;
  toMs: number;
}

/**
 * A series' samples in time order, as the loader reads them for range selectors: by (t, value) in PostgreSQL's
 * order (NaN above every number), so that of two samples at one time the greater is the one Points keeps.
 */
function sortedSamples(row: Packed): Loaded {
  const own = entriesOf(row, false);
  const times = own?.t ?? new Float64Array(0);
  const values = own?.v ?? new Float64Array(0);
  const count = times.length;
  let ordered = true;
  for (let i = 1; i < count && ordered; i++) {
    ordered = times[i - 1] < times[i] || (times[i - 1] === times[i] && !pgGreater(values[i - 1], values[i]));
  }
  // Read in time order almost always (the heap holds a partition's rows as they were written): sorted only if not.
  const order = ordered ? null : Array.from({ length: count }, (_, i) => i);
  order?.sort(
    (a, b) => times[a] - times[b] || (pgGreater(values[a], values[b]) ? 1 : pgGreater(values[b], values[a]) ? -1 : 0),
  );
  const t = new Array<number>(count);
  const v = new Array<number>(count);
  for (let j = 0; j < count; j++) {
    const i = order === null ? j : order[j];
    t[j] = times[i];
    v[j] = values[i];
  }
  return { labels: row.labels, t, v, n: null, total: null, read: count };
}

/**
 * The step reduction of a series' samples (any step): a sample's step is the first at or after it (k = max(0,
 * ceil((t - startMs) / stepMs))); per step the newest [t, v] in PostgreSQL's order and the count and sum of its
 * samples.
 */
function reduceSamples(row: Packed, grid: SampleGrid, sums: boolean, scratch: StepScratch): Loaded {
  const { n, total } = clearedScratch(scratch, sums);
  const own = entriesOf(row, false);
  const times = own?.t ?? new Float64Array(0);
  const values = own?.v ?? new Float64Array(0);
  const { startMs, stepMs } = grid;
  for (let i = 0; i < times.length; i++) {
    const t = times[i];
    const k = t <= startMs ? 0 : Math.ceil((t - startMs) / stepMs);
    const v = values[i];
    keepNewest(scratch, k, t, v);
    if (sums) {
      n[k] += 1;
      total[k] += v;
    }
  }
  return heldSteps(row.labels, scratch, sums, times.length);
}

/**
 * The metric_minutes rows an instant selector can read instead of its samples, or null. The step reduction groups
 * the samples in (t0 + (k - 1) step, t0 + k step]; when t0 and step are whole minutes each such group is a union of
 * whole minutes ((m - 1) min, m min], so the newest [time, value] of the group's minute rows, and their counts and
 * sums, are those of its samples. Rows from the minute holding fromMs (it may hold samples a little earlier: they
 * are older than every instant's lookback, and running totals are based on what is read) to the last whole minute
 * at or before toMs (no instant lies after it).
 */
function minuteRange(window: Window): { lo: number; hi: number } | null {
  const { steps } = window;
  if (!steps || steps.startMs % MINUTE_MS !== 0 || steps.stepMs % MINUTE_MS !== 0) return null;
  const lo = Math.ceil(window.fromMs / MINUTE_MS);
  const hi = Math.floor(window.toMs / MINUTE_MS);
  return hi >= lo ? { lo, hi } : null;
}

/** The hours (metric_hours) and minutes (metric_minutes) a per-minute read reads, and the step grid. */
interface MinuteRead {
  lo: number;
  hi: number;
  startMs: number;
  stepMs: number;
}

/**
 * Step representatives from metric_hours for the hours it holds in step with metric_minutes ([hours_from,
 * hours_before), while hours_synced_before = minutes_before), metric_minutes for the other minutes, and the samples
 * not in either (created_at at or after minutes_before, its watermark), all in one snapshot (withSnapshot), so they
 * read what the fold committed together. Two rounds: the first (minutesStatement, LOAD_PARTS statements, each for
 * its share of the series) gives per series the hours held with their versions, and the entries of the minutes and
 * samples outside them; the second (hoursStatement) reads the hours the cache does not hold at those versions.
 * Every source yields entries of the same shape (newest time and value of a minute, or a sample, with its count and
 * sum), packed per series into big-endian bytes sent as base64; reduceSteps groups them by step in Node: the same
 * rows as loadRows' step reduction, from 24 hour rows per series and day instead of 1,440 minute rows, and on a
 * dashboard's refresh from the current hour's minutes and the tail alone.
 */
async function loadMinutes(
  pool: Pool,
  source: Source,
  window: Window,
  range: { lo: number; hi: number },
  exact: Labels,
  bases: Statement | null,
  cache: HourCache | null,
): Promise<LoadedRows> {
  const steps = window.steps as NonNullable<Window['steps']>;
  const sums = source.kind !== 'raw';
  const read: MinuteRead = { ...range, ...steps };
  // The planner's estimate of the unfolded tail is generic (its bound is a subquery): no JIT for a few rows.
  const settings = { work_mem: LOAD_WORK_MEM, jit: 'off' } as const;
  return withSnapshot(
    pool,
    async (run) => {
      // With none of the name's hours in memory (a first request, or no cache), the first round reads them too.
      const inline = cache === null || !cache.holds(source.stored);
      const parts = Array.from({ length: LOAD_PARTS }, (_, part) =>
        minutesStatement(source, range, exact, part, inline),
      );
      const results = await run<object>(bases ? [...parts, bases] : parts);
      const baseRows = bases ? (results.pop() as BaseRow[]) : null;
      const rows = results.flat() as Packed[];
      const blocks = await hourBlocks(run, source, rows, cache);
      const scratch = stepScratch(Math.max(0, Math.ceil((read.hi * MINUTE_MS - read.startMs) / read.stepMs)) + 1);
      return { rows: rows.map((row, i) => reduceSteps(row, blocks[i], read, sums, scratch)), baseRows };
    },
    settings,
  );
}

/** An hour minutesStatement lists for a series: its hour, its row's version ('0': none) and its metric type. */
interface HeldHour {
  hour: number;
  version: string;
  type: string;
  /** Its entries (hoursStatement's index; 0 in minutesStatement's). */
  entries: number;
}

/**
 * Where the fields of an index entry lie, as indexSql packs them: int4 hour, int8 version, int2 type (1-based in
 * the source's types), and in hoursStatement's index the int4 count of the hour's entries.
 */
const INDEX_AT = { hour: 0, version: 4, type: 12, entries: 14 } as const;
const INDEX_BYTES = INDEX_AT.entries;
const INDEX_WITH_ENTRIES_BYTES = INDEX_AT.entries + Int32Array.BYTES_PER_ELEMENT;

/** SQL of one metric_hours row h's index entry (without its count of entries). */
function indexSql(types: string): string {
  return `int4send(h.hour) || int8send(coalesce(h.version, 0))
          || int2send(array_position(${types}::text[], h.metric_type)::int2)`;
}

/** The hours of an index as packed by indexSql (`entryBytes`: with the count of entries, hoursStatement's). */
function heldHours(index: string | null, types: string[], entryBytes: number = INDEX_BYTES): HeldHour[] {
  if (index === null) return [];
  const bytes = Buffer.from(index, 'base64');
  const out: HeldHour[] = [];
  for (let at = 0; at + entryBytes <= bytes.length; at += entryBytes) {
    out.push({
      hour: bytes.readInt32BE(at + INDEX_AT.hour),
      version: bytes.readBigInt64BE(at + INDEX_AT.version).toString(),
      type: types[bytes.readInt16BE(at + INDEX_AT.type) - 1],
      entries: entryBytes > INDEX_AT.entries ? bytes.readInt32BE(at + INDEX_AT.entries) : 0,
    });
  }
  return out;
}

/**
 * The hour blocks of each row: from the cache where it holds the version listed, else read (one more round in the
 * same snapshot, split by series over LOAD_PARTS statements) and kept. A series with hours to read reads every hour
 * from its first to its last missing one (a range per series, not a list of hours: the usual gaps are the hours
 * that closed since the last refresh, or all of them).
 */
async function hourBlocks(
  run: SnapshotRun,
  source: Source,
  rows: Packed[],
  cache: HourCache | null,
): Promise<HourBlock[][]> {
  const sums = source.kind !== 'raw';
  const since = cache?.mark();
  let caching = cache !== null;
  const keeps = (held: HeldHour) => caching && held.version !== '0';
  const kept = (series: string) => (held: HeldHour, block: HourBlock) => {
    caching = (cache as HourCache).set(source.stored, held.type, series, held.hour, block, since);
  };
  const blocks: HourBlock[][] = rows.map(() => []);
  if (rows.some((row) => row.ht !== null)) {
    // The first round read the hours (none of the name's were in memory).
    rows.forEach((row, i) => {
      if (row.hours === null || row.ht === null || row.hv === null) return;
      const packed = { index: row.hours, t: row.ht, v: row.hv, n: row.hn, total: row.htotal };
      blocks[i] = decodeHours(packed, source.types, keeps, kept(row.series));
      if (cache !== null) cache.misses += blocks[i].length;
    });
    return blocks;
  }
  const wanted: HourRange[] = [];
  rows.forEach((row, i) => {
    let type = '';
    let hours: SeriesHours | undefined;
    const found: { hour: number; block: HourBlock }[] = [];
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const held of heldHours(row.hours, source.types)) {
      if (held.type !== type) {
        type = held.type;
        hours = cache?.hoursOf(source.stored, type, row.series);
      }
      const block = held.version === '0' ? undefined : cache?.get(hours, held.hour, held.version, sums);
      if (block) found.push({ hour: held.hour, block });
      else {
        lo = Math.min(lo, held.hour);
        hi = Math.max(hi, held.hour);
      }
    }
    for (const { hour, block } of found) if (hour < lo || hour > hi) blocks[i].push(block);
    if (lo <= hi) wanted.push({ row: i, series: row.series, lo, hi });
  });
  if (wanted.length === 0) return blocks;
  const rowOf = new Map(wanted.map((w) => [w.series, w.row]));
  const statements = Array.from({ length: LOAD_PARTS }, (_, part) => wanted.filter((w) => w.row % LOAD_PARTS === part))
    .filter((share) => share.length > 0)
    .map((share) => hoursStatement(source, share));
  const fetched = (await run<FetchedHours>(statements)).flat();
  for (const hours of fetched) {
    const i = rowOf.get(hours.series) as number;
    blocks[i].push(...decodeHours(hours, source.types, keeps, kept(hours.series)));
  }
  return blocks;
}

/** Hour rows packed per series in hour order: their index (with the count of entries) and their entries. */
interface PackedHours {
  index: string;
  t: string;
  v: string;
  n: string | null;
  total: string | null;
}

/**
 * The blocks of packed hour rows: views of the decoded entries, or copies for those the cache keeps (`keeps`, then
 * `kept`): the memory bound counts a block's own bytes, and a view would hold the whole answer's.
 */
function decodeHours(
  packed: PackedHours,
  types: string[],
  keeps: (held: HeldHour) => boolean,
  kept: (held: HeldHour, block: HourBlock) => void,
): HourBlock[] {
  const t = float8s(Buffer.from(packed.t, 'base64'));
  const v = float8s(Buffer.from(packed.v, 'base64'));
  const n = packed.n === null ? null : int4s(Buffer.from(packed.n, 'base64'));
  const total = packed.total === null ? null : float8s(Buffer.from(packed.total, 'base64'));
  const out: HourBlock[] = [];
  let at = 0;
  for (const held of heldHours(packed.index, types, INDEX_WITH_ENTRIES_BYTES)) {
    const end = at + held.entries;
    const copy = keeps(held);
    const block: HourBlock = {
      version: held.version,
      t: entriesAt(t, at, end, copy),
      v: entriesAt(v, at, end, copy),
      n: n && entriesAt(n, at, end, copy),
      total: total && entriesAt(total, at, end, copy),
    };
    if (copy) kept(held, block);
    out.push(block);
    at = end;
  }
  return out;
}

/** The hours lo..hi (both included) of one series (hex of its key), for row `row` of the first round. */
interface HourRange {
  row: number;
  series: string;
  lo: number;
  hi: number;
}

/** Entries at..end of a decoded column: a copy, or a view (a function of its own: a closure per hour costs). */
function entriesAt<A extends Float64Array | Int32Array>(array: A, at: number, end: number, copy: boolean): A {
  return (copy ? array.slice(at, end) : array.subarray(at, end)) as A;
}

/** A row of hoursStatement: one series' hours read, their index and their entries packed in hour order. */
interface FetchedHours extends PackedHours {
  series: string;
}

/** As base64 text without PostgreSQL's line breaks: a third fewer bytes than bytea's hex, decoded ~3× faster. */
function packedSql(aggregate: string, as: string): string {
  return `replace(encode(${aggregate}, 'base64'), E'\\n', '') AS ${as}`;
}

/** Hour rows are packed in this order, every column alike (the entries of a column align with the index's). */
const HOUR_ORDER = 'ORDER BY h.hour, h.metric_type';

/**
 * Packed columns of metric_hours rows h: their index with the count of entries, and their entries (the count and
 * sum columns only for `sums`), named `as` (index, t, v, n, total).
 */
function hoursColumnsSql(types: string, sums: boolean, as: [string, string, string, string, string]): string {
  const agg = (column: string) => `string_agg(${column}, ''::bytea ${HOUR_ORDER})`;
  const [index, t, v, n, total] = as;
  return `${packedSql(agg(`${indexSql(types)} || int4send(length(h.last_ms) / 8)`), index)},
          ${packedSql(agg('h.last_ms'), t)}, ${packedSql(agg('h.last_value'), v)},
          ${sums ? packedSql(agg('h.sample_counts'), n) : `NULL AS ${n}`},
          ${sums ? packedSql(agg('h.value_sums'), total) : `NULL AS ${total}`}`;
}

/** The hours of each range, per series, in hour (then type) order. */
function hoursStatement(source: Source, ranges: HourRange[]): Statement {
  const where = new Where()
    .add('h.name = ?', source.stored)
    .add('h.metric_type = ANY(?::text[])', source.types)
    .add('h.series = decode(w.series, ?)', 'hex')
    .add('h.hour >= w.lo AND h.hour <= w.hi');
  const series = where.param(ranges.map((r) => r.series));
  const lo = where.param(ranges.map((r) => r.lo));
  const hi = where.param(ranges.map((r) => r.hi));
  const types = where.param(source.types);
  const sums = source.kind !== 'raw';
  const sql = `SELECT w.series, ${hoursColumnsSql(types, sums, ['index', 't', 'v', 'n', 'total'])}
                 FROM unnest(${series}::text[], ${lo}::int4[], ${hi}::int4[]) AS w(series, lo, hi)
                 JOIN metric_hours h ON true
                ${where}
                GROUP BY w.series`;
  return { sql, values: where.values };
}

/**
 * minutesStatement's rows for the series whose key (sha256 of the labels) has a first byte ≡ part (mod LOAD_PARTS):
 * per series its labels, its key (hex), the index of the hours held (hour, version, type) and the packed entries
 * of the minutes outside them and of the unfolded tail; `inline`: the hours' entries too (index with their counts).
 */
function minutesStatement(
  source: Source,
  range: { lo: number; hi: number },
  exact: Labels,
  part: number,
  inline: boolean,
): Statement {
  const tail = new Where()
    .add('name = ?', source.stored)
    .add('metric_type = ANY(?::text[])', source.types)
    .add(`created_at >= ${MINUTES_SINCE}`)
    .add('"timestamp" > ?', new Date((range.lo - 1) * MINUTE_MS))
    .add('"timestamp" <= ?', new Date(range.hi * MINUTE_MS));
  const labeled = Object.keys(exact).length > 0;
  if (labeled) tail.add('labels @> ?::jsonb', JSON.stringify(exact));
  const name = tail.param(source.stored);
  const types = tail.param(source.types);
  const exactSql = labeled ? `AND labels @> ${tail.param(JSON.stringify(exact))}::jsonb` : '';
  const inPart = (series: string) => `get_byte(${series}, 0) % ${LOAD_PARTS} = ${tail.param(part)}`;
  const lo = tail.param(range.lo);
  const hi = tail.param(range.hi);
  // Hours a..b (b exclusive) from metric_hours; with none held, a = b = the hour before lo (no minute of it is read).
  const firstHour = tail.param(Math.floor((range.lo - 1) / MINUTES_PER_HOUR));
  const endHour = tail.param(Math.floor((range.hi - 1) / MINUTES_PER_HOUR) + 1);
  const sums = source.kind !== 'raw';
  const columns = (t: string, v: string, n: string, total: string) =>
    `${t} AS t, ${v} AS v, ${sums ? n : 'NULL::bytea'} AS n, ${sums ? total : 'NULL::bytea'} AS total`;
  const minuteSum = 'float8send(m.value_sum)';
  const minuteRows = (bounds: string) =>
    `SELECT ${columns('float8send(m.last_ms)', 'float8send(m.last_value)', 'int4send(m.sample_count)', minuteSum)}
       FROM metric_minutes m
      WHERE m.name = ${name} AND m.metric_type = ANY(${types}::text[]) AND m.series = k.series AND ${bounds}`;
  const sample = 'float8send(u.value)';
  // The minutes before the hours held, and after them.
  const before = `m.minute >= ${lo} AND m.minute <= least(${hi}, s.a * ${MINUTES_PER_HOUR})`;
  const after = `m.minute > greatest(${lo} - 1, s.b * ${MINUTES_PER_HOUR}) AND m.minute <= ${hi}`;
  // The hours held: their index (hour, version, type) alone, or with their entries when this round reads them too.
  const indexOnly = `${packedSql(`string_agg(${indexSql(types)}, ''::bytea ${HOUR_ORDER})`, 'hours')},
                     NULL AS ht, NULL AS hv, NULL AS hn, NULL AS htotal`;
  // Aggregates without ORDER BY read their group's rows in one order: the columns' entries stay aligned.
  const packed = (column: string) => packedSql(`string_agg(p.${column}, ''::bytea)`, column);
  const sql = `WITH unfolded AS MATERIALIZED (
                 SELECT labels, sha256(jsonb_send(labels)) AS series, ${SAMPLE_MS_SQL} AS t, value
                   FROM metrics ${tail}),
               keys AS (SELECT labels, sha256(jsonb_send(labels)) AS series FROM metric_series
                         WHERE name = ${name} AND metric_type = ANY(${types}::text[]) ${exactSql}
                           AND ${inPart('sha256(jsonb_send(labels))')}
                         UNION
                        SELECT labels, series FROM unfolded WHERE ${inPart('series')}),
               held AS (SELECT greatest(hours_from, ${firstHour}) AS a, least(hours_before, ${endHour}) AS b
                          FROM metric_series_fold
                         WHERE hours_synced_before = minutes_before AND hours_from IS NOT NULL),
               span AS (SELECT coalesce((SELECT a FROM held), ${firstHour}) AS a,
                               coalesce((SELECT greatest(a, b) FROM held), ${firstHour}) AS b)
               SELECT k.labels::text AS labels, encode(k.series, 'hex') AS series, hx.hours, hx.ht, hx.hv, hx.hn,
                      hx.htotal, px.t, px.v, px.n, px.total, px.entries
                 FROM keys k CROSS JOIN span s
                CROSS JOIN LATERAL (
                      SELECT ${inline ? hoursColumnsSql(types, sums, ['hours', 'ht', 'hv', 'hn', 'htotal']) : indexOnly}
                        FROM metric_hours h
                       WHERE h.name = ${name} AND h.metric_type = ANY(${types}::text[]) AND h.series = k.series
                         AND h.hour >= s.a AND h.hour < s.b) hx
                CROSS JOIN LATERAL (
                      SELECT ${packed('t')}, ${packed('v')}, ${packed('n')}, ${packed('total')},
                             count(*)::float8 AS entries
                        FROM (${minuteRows(before)}
                               UNION ALL
                              ${minuteRows(after)}
                               UNION ALL
                              SELECT ${columns('float8send(u.t)', sample, 'int4send(1)', sample)}
                                FROM unfolded u WHERE u.series = k.series) p) px
                WHERE hx.hours IS NOT NULL OR px.entries > 0`;
  return { sql, values: tail.values };
}

/**
 * One series as minutesStatement gives it: big-endian float8 (t, v, total) and int4 (n) entries as base64 (null
 * when there are none), and the index of its hours held (heldHours).
 */
interface Packed {
  labels: string;
  series: string;
  hours: string | null;
  t: string | null;
  v: string | null;
  n: string | null;
  total: string | null;
  entries: number;
  /** The hours' entries, when the first round read them (index `hours` then holds their counts): as t, v, n, total. */
  ht: string | null;
  hv: string | null;
  hn: string | null;
  htotal: string | null;
}

/** a > b as PostgreSQL orders float8: NaN above every number. */
function pgGreater(a: number, b: number): boolean {
  if (Number.isNaN(a)) return !Number.isNaN(b);
  return !Number.isNaN(b) && a > b;
}

/** Big-endian float8 entries as numbers: byte-swapped in place (native) and viewed, copied only when unaligned. */
function float8s(packed: Buffer): Float64Array {
  const swapped = packed.swap64();
  if (swapped.byteOffset % Float64Array.BYTES_PER_ELEMENT === 0) {
    return new Float64Array(swapped.buffer, swapped.byteOffset, swapped.length / Float64Array.BYTES_PER_ELEMENT);
  }
  return new Float64Array(new Uint8Array(swapped).buffer);
}

/** Big-endian int4 entries as numbers (as float8s). */
function int4s(packed: Buffer): Int32Array {
  const swapped = packed.swap32();
  if (swapped.byteOffset % Int32Array.BYTES_PER_ELEMENT === 0) {
    return new Int32Array(swapped.buffer, swapped.byteOffset, swapped.length / Int32Array.BYTES_PER_ELEMENT);
  }
  return new Int32Array(new Uint8Array(swapped).buffer);
}

/** The entries of a row outside its hours, decoded as an hour block's (version unused). */
function entriesOf(row: Packed, sums: boolean): HourBlock | null {
  if (row.t === null || row.v === null) return null;
  const decoded = (base64: string | null) => (base64 === null ? null : Buffer.from(base64, 'base64'));
  const counts = sums ? decoded(row.n) : null;
  const totals = sums ? decoded(row.total) : null;
  return {
    version: '0',
    t: float8s(Buffer.from(row.t, 'base64')),
    v: float8s(Buffer.from(row.v, 'base64')),
    n: counts && int4s(counts),
    total: totals && float8s(totals),
  };
}

/** Per-step working arrays of reduceSteps, made once per load and reused for each series. */
interface StepScratch {
  bestT: Float64Array;
  bestV: Float64Array;
  n: Float64Array;
  total: Float64Array;
}

function stepScratch(steps: number): StepScratch {
  const array = () => new Float64Array(steps);
  return { bestT: array(), bestV: array(), n: array(), total: array() };
}

/** The scratch made ready for a series: no step has an entry (-Infinity: every entry's time is later), sums 0. */
function clearedScratch(scratch: StepScratch, sums: boolean): StepScratch {
  scratch.bestT.fill(Number.NEGATIVE_INFINITY);
  if (sums) {
    scratch.n.fill(0);
    scratch.total.fill(0);
  }
  return scratch;
}

/** [t, v] as step k's representative if it is newer: max(ARRAY[t, value]) in PostgreSQL's order. */
function keepNewest(scratch: StepScratch, k: number, t: number, v: number): void {
  const best = scratch.bestT[k];
  if (t > best || (t === best && pgGreater(v, scratch.bestV[k]))) {
    scratch.bestT[k] = t;
    scratch.bestV[k] = v;
  }
}

/** The steps with an entry in `scratch`, in step order (time order), as arrays (plain loops: this runs per point). */
function heldSteps(labels: string, scratch: StepScratch, sums: boolean, entries: number): Loaded {
  const { bestT, bestV, n, total } = scratch;
  let held = 0;
  for (let k = 0; k < bestT.length; k++) if (bestT[k] !== Number.NEGATIVE_INFINITY) held++;
  const t = new Array<number>(held);
  const v = new Array<number>(held);
  const counts = sums ? new Array<number>(held) : null;
  const totals = sums ? new Array<number>(held) : null;
  for (let k = 0, j = 0; k < bestT.length; k++) {
    if (bestT[k] === Number.NEGATIVE_INFINITY) continue;
    t[j] = bestT[k];
    v[j] = bestV[k];
    if (counts !== null && totals !== null) {
      counts[j] = n[k];
      totals[j] = total[k];
    }
    j++;
  }
  return { labels, t, v, n: counts, total: totals, read: entries };
}

/**
 * reduceSamples over packed minute entries (the row's own and its hour blocks'): an entry's minute is ceil(t /
 * MINUTE_MS) (entries outside lo..hi, from the hours at the range's ends, are skipped) and its step the first at or
 * after the minute's end; per step the newest [t, v] (max(ARRAY[t, value]) in PostgreSQL's order) and the sums of n
 * and total. The steps with an entry come out as arrays in step order (time order).
 */
function reduceSteps(row: Packed, hours: HourBlock[], read: MinuteRead, sums: boolean, scratch: StepScratch): Loaded {
  const { lo, hi, startMs, stepMs } = read;
  const { n, total } = clearedScratch(scratch, sums);
  const own = entriesOf(row, sums);
  const chunks = own ? [own, ...hours] : hours;
  let entries = 0;
  // Whole minutes (minuteRange): a minute's step is max(0, ceil((minute - startMinute) / stepMinutes)).
  const startMinute = startMs / MINUTE_MS;
  const stepMinutes = stepMs / MINUTE_MS;
  for (const chunk of chunks) {
    const { t: times, v: values, n: counts, total: totals } = chunk;
    const count = times.length;
    const adding = sums && counts !== null && totals !== null;
    entries += count;
    for (let i = 0; i < count; i++) {
      const t = times[i];
      const minute = Math.ceil(t / MINUTE_MS);
      if (minute < lo || minute > hi) continue;
      const after = minute - startMinute;
      const k = after <= 0 ? 0 : stepMinutes === 1 ? after : Math.ceil(after / stepMinutes);
      keepNewest(scratch, k, t, values[i]);
      if (adding) {
        n[k] += (counts as Int32Array)[i];
        total[k] += (totals as Float64Array)[i];
      }
    }
  }
  return heldSteps(row.labels, scratch, sums, entries);
}

/** The numbers as an array (a loop into a preallocated array: Array.from of a typed array is ~10× slower). */
function numbers(count: number, value: (i: number) => number): number[] {
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = value(i);
  return out;
}

/** The array itself, or its numbers copied into one. */
function asNumbers(values: ArrayLike<number>): number[] {
  return Array.isArray(values) ? values : numbers(values.length, (i) => values[i]);
}

function present(source: Source, labels: Labels, row: Loaded, base: State): StoredSeries[] {
  const count = row.t.length;
  const times = asNumbers(row.t);
  const series = (extra: Labels, values: number[]): StoredSeries => ({
    labels: { ...labels, ...extra, __name__: source.metric },
    points: Points.of(times, values),
  });
  const running = (start: number, step: (i: number) => number) => {
    let at = start;
    return numbers(count, (i) => (at += step(i)));
  };
  switch (source.kind) {
    case 'raw':
      return [series({}, asNumbers(row.v))];
    case 'counter':
    case 'sum':
      return [
        series(
          {},
          running(base.total, (i) => row.total?.[i] ?? row.v[i]),
        ),
      ];
    case 'count':
      return [
        series(
          {},
          running(base.n, (i) => row.n?.[i] ?? 1),
        ),
      ];
    case 'bucket': {
      const out = BUCKET_BOUNDS.map((bound, b) =>
        series(
          { le: formatValue(bound) },
          running(base.buckets[b], (i) => (row.v[i] <= bound ? 1 : 0)),
        ),
      );
      out.push(
        series(
          { le: '+Inf' },
          running(base.n, () => 1),
        ),
      );
      return out;
    }
  }
}

/** A row of basesStatement: per series the all-time state and what lies after the window. */
interface BaseRow {
  labels: string;
  n: string;
  total: number;
  buckets: string[] | null;
  a_n: string | null;
  a_total: number | null;
  a_buckets: string[] | null;
}

/** Per series (labels as jsonb text): the all-time state, and the samples after `toMs` to take from it (basesOf). */
function basesStatement(source: Source, toMs: number): Statement {
  const tail = new Where()
    .add('name = ?', source.stored)
    .add('metric_type = ANY(?::text[])', source.types)
    .add(`created_at >= ${FOLD_SINCE}`);
  const tailSql = seriesAggregateSql(tail);
  const after = new Where();
  after.values.push(...tail.values);
  after
    .add('name = ?', source.stored)
    .add('metric_type = ANY(?::text[])', source.types)
    .add('"timestamp" > ?', new Date(toMs));
  const afterSql = seriesAggregateSql(after);
  const name = after.param(source.stored);
  const types = after.param(source.types);
  const sql = `WITH tail AS (${tailSql}), after AS (${afterSql}),
          state AS (SELECT name, metric_type, labels, sample_count, value_sum, bucket_counts FROM metric_series
                     WHERE name = ${name} AND metric_type = ANY(${types}::text[]))
     SELECT labels::text AS labels,
            coalesce(s.sample_count, 0) + coalesce(t.n, 0) AS n,
            coalesce(s.value_sum, 0) + coalesce(t.total, 0) AS total,
            vigil_add_counts(s.bucket_counts, t.buckets) AS buckets,
            a.n AS a_n, a.total AS a_total, a.buckets AS a_buckets
       FROM state s FULL JOIN tail t USING (name, metric_type, labels)
       LEFT JOIN after a USING (name, metric_type, labels)`;
  return { sql, values: after.values };
}

/** Per series (labels as jsonb text): the all-time state minus the samples after the window. */
function basesOf(rows: BaseRow[]): Map<string, State> {
  const out = new Map<string, State>();
  for (const row of rows) {
    out.set(row.labels, {
      n: Number(row.n) - Number(row.a_n ?? 0),
      total: row.total - (row.a_total ?? 0),
      buckets: BUCKET_BOUNDS.map((_, i) => Number(row.buckets?.[i] ?? 0) - Number(row.a_buckets?.[i] ?? 0)),
    });
  }
  return out;
}
