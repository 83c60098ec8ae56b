/**
 * Evaluates full PromQL expressions (expr.ts) at instants over series already loaded into memory — the query
 * role loads exactly what the selectors read, bounded, before evaluating. A range query evaluates the expression
 * at every step (start, start + step, …, end), like Prometheus: a series at a time across all the steps where it
 * can (columns.ts, rangeColumns), else the whole expression a step at a time (rangeSteps), with the same answers.
 * Semantics follow Prometheus 2.x (docs/promql.md):
 *   instant selector   newest sample in [t - lookback, t] (offset shifts t)
 *   range selector     samples in [t - range, t]
 *   rate/increase/delta  extrapolated to the window edges as Prometheus does; irate/idelta the last two samples
 *   arithmetic and functions drop the metric name; comparisons filter unless `bool`
 * Errors a query meets while running (many-to-many matches, duplicate series) are PromqlExecutionErrors (422).
 */
import type { Labels, Points } from './windows.ts';
import { matches } from './windows.ts';
import type { Aggregation, Binary, Call, Expr, MatrixSelector, VectorMatching, VectorSelector } from './expr.ts';
import { COMPARISON_OPS, SET_OPS } from './expr.ts';
import { aggregate } from './aggregations.ts';
import { callFunction } from './functions.ts';
import { type Column, type Columns, ColumnEvaluator, columnar, NotColumnar } from './columns.ts';

export const NAME = '__name__';
export const DEFAULT_LOOKBACK_MS = 300_000; // 5 minutes, as Prometheus

export interface StoredSeries {
  /** All labels, the metric name as __name__. */
  labels: Labels;
  points: Points;
  /** The source applied every matcher of the selector itself (event streams: tags are not labels). */
  matched?: boolean;
  /** Each point counts occurrences at its instant (events): count_over_time sums them, rate per second of range. */
  counts?: boolean;
}

/** The loaded data: every stored series a selector matches (the loader applied the matchers it could). */
export interface SeriesSource {
  select(selector: VectorSelector): StoredSeries[];
}

export interface Sample {
  labels: Labels;
  value: number;
}

export type Value =
  | { type: 'scalar'; value: number }
  | { type: 'string'; value: string }
  | { type: 'vector'; samples: Sample[] };

export class PromqlExecutionError extends Error {
  override name = 'PromqlExecutionError';
}

export interface EngineOptions {
  lookbackMs: number;
  /** Values of sub-expressions computed elsewhere (an alert rule's aggregation combined from every partition). */
  given?: ReadonlyMap<Expr, Value>;
}

export interface SeriesResult {
  labels: Labels;
  times: number[];
  values: number[];
}

/** A range query's result a series at a time: each series' values at the instants where it is present. */
export interface RangeColumns {
  instants: Float64Array;
  columns: Column[];
}

/** The instants of a range query: start, start + step, … ≤ end. */
function instantsOf(start: number, end: number, stepMs: number): number[] {
  const out: number[] = [];
  for (let t = start; t <= end; t += stepMs) out.push(t);
  return out;
}

/** Per selected series, the index bounds of the last window read, and the instant they were read for. */
interface Cursor {
  t: number;
  lo: Int32Array;
  hi: Int32Array;
}

export class Evaluator {
  private readonly selected = new Map<VectorSelector, StoredSeries[]>();
  /** The steps of one range() read the same selectors at increasing instants: bounds move on from the last step's. */
  private readonly cursors = new Map<VectorSelector | MatrixSelector, Cursor>();

  constructor(
    private readonly source: SeriesSource,
    private readonly opts: EngineOptions = { lookbackMs: DEFAULT_LOOKBACK_MS },
  ) {}

  instant(expr: Expr, t: number): Value {
    this.cursors.clear(); // the points may have changed since the last call (live windows)
    return this.eval(expr, t);
  }

  /** Evaluates at every step; a scalar expression becomes one series without labels. */
  range(expr: Expr, start: number, end: number, stepMs: number): SeriesResult[] {
    const columns = this.rangeColumns(expr, start, end, stepMs);
    if (!columns) return this.rangeSteps(expr, start, end, stepMs);
    return columns.columns.map(({ labels, values, present }) => {
      const series: SeriesResult = { labels, times: [], values: [] };
      for (let k = 0; k < columns.instants.length; k++) {
        if (!present[k]) continue;
        series.times.push(columns.instants[k]);
        series.values.push(values[k]);
      }
      return series;
    });
  }

  /**
   * The range evaluated a series at a time (columns.ts): every result series has a value at some step, and no two
   * have the same labels. Null where rangeSteps must answer: the expression is not columnar, or two result series
   * have the same labels (which the step-by-step evaluation answers as it always has).
   */
  rangeColumns(expr: Expr, start: number, end: number, stepMs: number): RangeColumns | null {
    if (this.opts.given || !columnar(expr)) return null;
    const instants = Float64Array.from(instantsOf(start, end, stepMs));
    let value: Columns;
    try {
      value = new ColumnEvaluator((s) => this.series(s), this.opts.lookbackMs, instants).eval(expr);
    } catch (error) {
      if (error instanceof NotColumnar) return null;
      throw error;
    }
    if (value.type === 'scalar')
      return {
        instants,
        columns: [{ labels: {}, values: value.values, present: new Uint8Array(instants.length).fill(1) }],
      };
    const seen = new Set<string>();
    const columns: Column[] = [];
    for (const column of value.columns) {
      if (!column.present.includes(1)) continue;
      const key = cachedKey(column.labels);
      if (seen.has(key)) return null;
      seen.add(key);
      columns.push(column);
    }
    return { instants, columns };
  }

  /** The range evaluated step by step: the whole expression at each instant. */
  rangeSteps(expr: Expr, start: number, end: number, stepMs: number): SeriesResult[] {
    this.cursors.clear();
    const out = new Map<string, SeriesResult>();
    for (const t of instantsOf(start, end, stepMs)) {
      const value = this.eval(expr, t);
      const samples =
        value.type === 'vector' ? value.samples : value.type === 'scalar' ? [{ labels: {}, value: value.value }] : [];
      for (const sample of samples) {
        const key = cachedKey(sample.labels);
        let series = out.get(key);
        if (!series) out.set(key, (series = { labels: sample.labels, times: [], values: [] }));
        series.times.push(t);
        series.values.push(sample.value);
      }
    }
    return [...out.values()];
  }

  private eval(expr: Expr, t: number): Value {
    const given = this.opts.given?.get(expr);
    if (given) return given;
    switch (expr.kind) {
      case 'number':
        return { type: 'scalar', value: expr.value };
      case 'string':
        return { type: 'string', value: expr.value };
      case 'paren':
        return this.eval(expr.expr, t);
      case 'unary': {
        const value = this.eval(expr.expr, t);
        if (expr.op === '+') return value;
        if (value.type === 'scalar') return { type: 'scalar', value: -value.value };
        if (value.type !== 'vector') throw new PromqlExecutionError('unary - needs a scalar or a vector');
        return { type: 'vector', samples: value.samples.map((s) => ({ labels: dropName(s.labels), value: -s.value })) };
      }
      case 'vector':
        return { type: 'vector', samples: this.instantSelect(expr, t) };
      case 'matrix':
        throw new PromqlExecutionError(
          'a range vector cannot be evaluated on its own: wrap it in a function such as rate()',
        );
      case 'call':
        return this.call(expr, t);
      case 'aggregation':
        return this.aggregation(expr, t);
      case 'binary':
        return this.binary(expr, t);
    }
  }

  private series(selector: VectorSelector): StoredSeries[] {
    let found = this.selected.get(selector);
    if (!found) {
      const selects = (s: StoredSeries) => s.matched || selector.matchers.every((m) => matches(m, s.labels[m.label]));
      found = this.source.select(selector).filter(selects);
      this.selected.set(selector, found);
    }
    return found;
  }

  private instantSelect(selector: VectorSelector, t: number): Sample[] {
    const at = t - selector.offsetMs;
    const all = this.series(selector);
    const { hi } = this.bounds(selector, all, at, at, false);
    const out: Sample[] = [];
    for (let s = 0; s < all.length; s++) {
      const { points } = all[s];
      const i = hi[s] - 1;
      if (i < points.head || points.times[i] < at - this.opts.lookbackMs) continue;
      out.push({ labels: all[s].labels, value: points.values[i] });
    }
    return out;
  }

  /** The samples of each selected series in [t - range, t] (shifted by offset): index bounds into its points. */
  windows(
    matrix: MatrixSelector,
    t: number,
  ): { series: StoredSeries; lo: number; hi: number; from: number; to: number }[] {
    const to = t - matrix.selector.offsetMs;
    const from = to - matrix.rangeMs;
    const all = this.series(matrix.selector);
    const { lo, hi } = this.bounds(matrix, all, from, to, true);
    const out = [];
    for (let s = 0; s < all.length; s++) out.push({ series: all[s], lo: lo[s], hi: hi[s], from, to });
    return out;
  }

  /**
   * Per series: lo = first point at or after `from` (when `withLo`), hi = first point after `to`. Moved forward from
   * the previous instant's bounds when `to` did not go back (each step of a range query), else searched.
   */
  private bounds(
    key: VectorSelector | MatrixSelector,
    all: StoredSeries[],
    from: number,
    to: number,
    withLo: boolean,
  ): Cursor {
    let cursor = this.cursors.get(key);
    if (!cursor || to < cursor.t) {
      cursor = { t: to, lo: new Int32Array(all.length), hi: new Int32Array(all.length) };
      for (let s = 0; s < all.length; s++) {
        if (withLo) cursor.lo[s] = lowerBound(all[s].points, from);
        cursor.hi[s] = all[s].points.upperBound(to);
      }
      this.cursors.set(key, cursor);
      return cursor;
    }
    cursor.t = to;
    for (let s = 0; s < all.length; s++) {
      const times = all[s].points.times;
      let hi = cursor.hi[s];
      while (hi < times.length && times[hi] <= to) hi++;
      cursor.hi[s] = hi;
      if (!withLo) continue;
      let lo = cursor.lo[s];
      while (lo < hi && times[lo] < from) lo++;
      cursor.lo[s] = lo;
    }
    return cursor;
  }

  private call(call: Call, t: number): Value {
    return callFunction(call, t, {
      eval: (e) => this.eval(e, t),
      windows: (m) => this.windows(m, t),
    });
  }

  private aggregation(agg: Aggregation, t: number): Value {
    const input = this.eval(agg.expr, t);
    if (input.type !== 'vector') throw new PromqlExecutionError(`${agg.op}() needs an instant vector`);
    let param: number | null = null;
    if (agg.param) {
      const p = this.eval(agg.param, t);
      if (p.type !== 'scalar') throw new PromqlExecutionError(`${agg.op}()'s parameter must be a scalar`);
      param = p.value;
    }
    return { type: 'vector', samples: aggregate(agg, input.samples, param) };
  }

  private binary(node: Binary, t: number): Value {
    const lhs = this.eval(node.lhs, t);
    const rhs = this.eval(node.rhs, t);
    if (lhs.type === 'scalar' && rhs.type === 'scalar') {
      const [value] = scalarOp(node.op, lhs.value, rhs.value);
      return { type: 'scalar', value: COMPARISON_OPS.includes(node.op) ? Number(value) : value };
    }
    if (lhs.type === 'vector' && rhs.type === 'vector')
      return { type: 'vector', samples: vectorVector(node, lhs.samples, rhs.samples) };
    if (lhs.type === 'vector' && rhs.type === 'scalar')
      return { type: 'vector', samples: vectorScalar(node, lhs.samples, rhs.value, false) };
    if (lhs.type === 'scalar' && rhs.type === 'vector')
      return { type: 'vector', samples: vectorScalar(node, rhs.samples, lhs.value, true) };
    throw new PromqlExecutionError(`binary operator ${node.op} needs scalars or instant vectors`);
  }
}

/** [value, keep]: the result of `a op b`; for comparisons keep says whether it holds (value is then a). */
export function scalarOp(op: string, a: number, b: number): [number, boolean] {
  switch (op) {
    case '+':
      return [a + b, true];
    case '-':
      return [a - b, true];
    case '*':
      return [a * b, true];
    case '/':
      return [a / b, true];
    case '%':
      return [a % b, true];
    case '^':
      return [a ** b, true];
    case 'atan2':
      return [Math.atan2(a, b), true];
    case '==':
      return [a, a === b];
    case '!=':
      return [a, a !== b];
    case '>':
      return [a, a > b];
    case '<':
      return [a, a < b];
    case '>=':
      return [a, a >= b];
    case '<=':
      return [a, a <= b];
  }
  throw new PromqlExecutionError(`operator ${op} is not defined between these operands`);
}

function vectorScalar(node: Binary, vector: Sample[], scalar: number, swap: boolean): Sample[] {
  const comparison = COMPARISON_OPS.includes(node.op);
  const out: Sample[] = [];
  for (const sample of vector) {
    const [a, b] = swap ? [scalar, sample.value] : [sample.value, scalar];
    let [value, keep] = scalarOp(node.op, a, b);
    if (comparison && swap) value = sample.value;
    if (node.returnBool) {
      value = keep ? 1 : 0;
      keep = true;
    }
    if (!keep) continue;
    out.push({ labels: comparison && !node.returnBool ? sample.labels : dropName(sample.labels), value });
  }
  return out;
}

function signature(labels: Labels, matching: VectorMatching | null): string {
  if (matching?.on) return matching.labels.map((l) => `${l}\u0001${labels[l] ?? ''}`).join('\u0002');
  const ignored = new Set([NAME, ...(matching?.labels ?? [])]);
  const kept: Labels = {};
  for (const [k, v] of Object.entries(labels)) if (!ignored.has(k)) kept[k] = v;
  return labelsKey(kept);
}

function vectorVector(node: Binary, lhs: Sample[], rhs: Sample[]): Sample[] {
  const matching = node.matching;
  if (SET_OPS.includes(node.op)) return setOp(node.op, lhs, rhs, matching);
  const card = matching?.card ?? 'one-to-one';
  // The "one" side is indexed by signature; it must not have two elements with the same one.
  const [many, one] = card === 'one-to-many' ? [rhs, lhs] : [lhs, rhs];
  const bySig = new Map<string, Sample>();
  for (const sample of one) {
    const sig = signature(sample.labels, matching);
    if (bySig.has(sig)) {
      throw new PromqlExecutionError(
        `found duplicate series for the match group ${describeLabels(sample.labels)} ` +
          `on the ${card === 'one-to-many' ? 'left' : 'right'} hand-side of the operation: ` +
          'many-to-many matching not allowed: matching labels must be unique on one side',
      );
    }
    bySig.set(sig, sample);
  }
  const comparison = COMPARISON_OPS.includes(node.op);
  const seen = new Set<string>();
  const seenSigs = new Set<string>();
  const out: Sample[] = [];
  for (const m of many) {
    const sig = signature(m.labels, matching);
    const o = bySig.get(sig);
    if (!o) continue;
    const [l, r] = card === 'one-to-many' ? [o, m] : [m, o];
    let [value, keep] = scalarOp(node.op, l.value, r.value);
    if (node.returnBool) {
      value = keep ? 1 : 0;
      keep = true;
    }
    if (!keep) continue;
    const labels = resultLabels(l.labels, r.labels, node, comparison && !node.returnBool);
    const key = labelsKey(labels);
    if (card === 'one-to-one') {
      if (seenSigs.has(sig)) {
        throw new PromqlExecutionError(
          `multiple matches for labels ${describeLabels(labels)}: many-to-one matching must be explicit ` +
            `(group_left/group_right)`,
        );
      }
    } else if (seen.has(key)) {
      throw new PromqlExecutionError(
        `multiple matches for labels ${describeLabels(labels)}: grouping labels must ensure unique matches`,
      );
    }
    seen.add(key);
    seenSigs.add(sig);
    out.push({ labels, value });
  }
  return out;
}

/** The labels of `l op r`, following Prometheus' resultMetric. */
function resultLabels(l: Labels, r: Labels, node: Binary, keepName: boolean): Labels {
  const matching = node.matching;
  const card = matching?.card ?? 'one-to-one';
  const [base, other] = card === 'one-to-many' ? [r, l] : [l, r];
  let labels: Labels = { ...(keepName ? base : dropName(base)) }; // a copy: dropName's are shared
  if (card === 'one-to-one' && matching) {
    if (matching.on) {
      const kept: Labels = {};
      for (const name of matching.labels) if (labels[name] !== undefined) kept[name] = labels[name];
      labels = kept;
    } else {
      for (const name of matching.labels) delete labels[name];
    }
  }
  for (const name of matching?.include ?? []) {
    if (other[name] !== undefined && other[name] !== '') labels[name] = other[name];
    else delete labels[name];
  }
  return labels;
}

function setOp(op: string, lhs: Sample[], rhs: Sample[], matching: VectorMatching | null): Sample[] {
  const rightSigs = new Set(rhs.map((s) => signature(s.labels, matching)));
  if (op === 'and') return lhs.filter((s) => rightSigs.has(signature(s.labels, matching)));
  if (op === 'unless') return lhs.filter((s) => !rightSigs.has(signature(s.labels, matching)));
  const leftSigs = new Set(lhs.map((s) => signature(s.labels, matching)));
  return [...lhs, ...rhs.filter((s) => !leftSigs.has(signature(s.labels, matching)))];
}

/** Stored series' labels are the same objects at every step, so their name-less copies are made once. */
const withoutName = new WeakMap<Labels, Labels>();

export function dropName(labels: Labels): Labels {
  if (!(NAME in labels)) return labels;
  let rest = withoutName.get(labels);
  if (!rest) {
    const { [NAME]: _name, ...copy } = labels;
    withoutName.set(labels, (rest = copy));
  }
  return rest;
}

/** Index of the first point at or after `t`. */
export function lowerBound(points: Points, t: number): number {
  let lo = points.head;
  let hi = points.times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points.times[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Label sets repeat at every step of a range query (the same objects): their keys are computed once. */
const keys = new WeakMap<Labels, string>();

function cachedKey(labels: Labels): string {
  let key = keys.get(labels);
  if (key === undefined) keys.set(labels, (key = labelsKey(labels)));
  return key;
}

export function labelsKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0001${labels[k]}`)
    .join('\u0002');
}

export function describeLabels(labels: Labels): string {
  return `{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(', ')}}`;
}
