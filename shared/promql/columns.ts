/**
 * A range query evaluated a series at a time across all its steps, instead of the whole expression a step at a time
 * (engine.ts Evaluator.range): every value is a column per series — one Float64Array of values over the steps and
 * one Uint8Array saying at which steps the series has a sample. A selector walks each stored series' points once,
 * a range function moves each series' window bounds once across the steps, an aggregation puts each input series
 * in its group once and adds its column in. The answers are those of the step-by-step evaluation, computed by the
 * same functions in the same order (functions.ts windowValue and bucketQuantile, aggregations.ts groupOf); the
 * expressions it does not cover (columnar() false: matching between two vectors, topk, absent, label_replace, …)
 * are evaluated step by step.
 */
import { groupOf } from './aggregations.ts';
import { dropName, PromqlExecutionError, scalarOp, type StoredSeries } from './engine.ts';
import type { Aggregation, Binary, Call, Expr, MatrixSelector, VectorSelector } from './expr.ts';
import { COMPARISON_OPS, SET_OPS } from './expr.ts';
import { typeOf } from './expr-parser.ts';
import { bucketQuantile, histogramBucket, windowValue } from './functions.ts';
import type { Labels } from './windows.ts';
import { MS_PER_SECOND } from '../units.ts';

/** One series of a columnar value: its value at each step where present[step] is 1. */
export interface Column {
  labels: Labels;
  values: Float64Array;
  present: Uint8Array;
}

export type Columns = { type: 'scalar'; values: Float64Array } | { type: 'vector'; columns: Column[] };

/** Functions of one instant vector applied to each value. */
const MATH: Readonly<Record<string, (v: number) => number>> = {
  abs: Math.abs,
  ceil: Math.ceil,
  floor: Math.floor,
  exp: Math.exp,
  ln: Math.log,
  log2: Math.log2,
  log10: Math.log10,
  sqrt: Math.sqrt,
  sgn: Math.sign,
};

/** Range functions evaluated per series (absent_over_time is about all series at once). */
const RANGE_FUNCTIONS = new Set([
  'rate',
  'increase',
  'delta',
  'irate',
  'idelta',
  'resets',
  'changes',
  'count_over_time',
  'present_over_time',
  'last_over_time',
  'sum_over_time',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'quantile_over_time',
]);

const AGGREGATIONS = new Set<Aggregation['op']>(['sum', 'avg', 'count', 'min', 'max', 'group', 'stddev', 'stdvar']);

/** Whether every node of `expr` has a columnar evaluation here. */
export function columnar(expr: Expr): boolean {
  switch (expr.kind) {
    case 'number':
    case 'vector':
      return true;
    case 'string':
    case 'matrix':
      return false;
    case 'paren':
    case 'unary':
      return columnar(expr.expr);
    case 'aggregation':
      return AGGREGATIONS.has(expr.op) && expr.param === null && columnar(expr.expr);
    case 'binary':
      return (
        !SET_OPS.includes(expr.op) &&
        (typeOf(expr.lhs) === 'scalar' || typeOf(expr.rhs) === 'scalar') &&
        columnar(expr.lhs) &&
        columnar(expr.rhs)
      );
    case 'call':
      return columnarCall(expr);
  }
}

function columnarCall(call: Call): boolean {
  const { fn, args } = call;
  if (fn === 'time') return args.length === 0;
  if (fn in MATH) return args.length === 1 && columnar(args[0]);
  if (fn === 'histogram_quantile') return args.length === 2 && columnar(args[0]) && columnar(args[1]);
  if (!RANGE_FUNCTIONS.has(fn)) return false;
  if (fn === 'quantile_over_time') return args.length === 2 && columnar(args[0]) && args[1].kind === 'matrix';
  return args.length === 1 && args[0].kind === 'matrix';
}

/** Thrown when an expression turns out not to be columnar while evaluated: the caller evaluates step by step. */
export class NotColumnar extends Error {}

/** Values per shared buffer that columns are cut from (one allocation for many columns, not two per column). */
const SLAB_VALUES = 65_536;

export class ColumnEvaluator {
  private readonly count: number;
  private slab = new Float64Array(0);
  private slabPresent = new Uint8Array(0);
  private slabUsed = 0;

  /** `instants`: the steps of the range query, in order. */
  constructor(
    private readonly select: (selector: VectorSelector) => StoredSeries[],
    private readonly lookbackMs: number,
    private readonly instants: Float64Array,
  ) {
    this.count = instants.length;
  }

  eval(expr: Expr): Columns {
    switch (expr.kind) {
      case 'number':
        return { type: 'scalar', values: new Float64Array(this.count).fill(expr.value) };
      case 'paren':
        return this.eval(expr.expr);
      case 'unary': {
        const value = this.eval(expr.expr);
        if (expr.op === '+') return value;
        if (value.type === 'scalar') return { type: 'scalar', values: value.values.map((v) => -v) };
        return { type: 'vector', columns: this.mapColumns(value.columns, (v) => -v) };
      }
      case 'vector':
        return { type: 'vector', columns: this.collect((emit) => this.selector(expr, emit, null)) };
      case 'aggregation':
        return { type: 'vector', columns: this.aggregation(expr) };
      case 'binary':
        return this.binary(expr);
      case 'call':
        return this.call(expr);
      default:
        throw new NotColumnar(expr.kind);
    }
  }

  private vector(expr: Expr, what: string): Column[] {
    const value = this.eval(expr);
    if (value.type !== 'vector') throw new PromqlExecutionError(what);
    return value.columns;
  }

  private scalar(expr: Expr, what: string): Float64Array {
    const value = this.eval(expr);
    if (value.type !== 'scalar') throw new PromqlExecutionError(what);
    return value.values;
  }

  private newColumn(labels: Labels): Column {
    if (this.slabUsed + this.count > this.slab.length) {
      const size = Math.max(SLAB_VALUES, this.count);
      this.slab = new Float64Array(size);
      this.slabPresent = new Uint8Array(size);
      this.slabUsed = 0;
    }
    const from = this.slabUsed;
    this.slabUsed += this.count;
    return {
      labels,
      values: this.slab.subarray(from, this.slabUsed),
      present: this.slabPresent.subarray(from, this.slabUsed),
    };
  }

  /** A series' column: a new one, or `scratch` emptied (a column its consumer reads once, right away). */
  private target(labels: Labels, scratch: Column | null): Column {
    if (!scratch) return this.newColumn(labels);
    scratch.labels = labels;
    scratch.present.fill(0);
    return scratch;
  }

  private collect(produce: (emit: (column: Column) => void) => void): Column[] {
    const out: Column[] = [];
    produce((column) => out.push(column));
    return out;
  }

  /**
   * Each column of an instant vector, in order; a selector's or range function's one at a time in one reused
   * column (an aggregation adds each in and forgets it: no column per input series).
   */
  private forEachColumn(expr: Expr, what: string, use: (column: Column) => void): void {
    let inner = expr;
    while (inner.kind === 'paren') inner = inner.expr;
    if (inner.kind === 'vector') return this.selector(inner, use, this.newColumn({}));
    if (inner.kind === 'call' && RANGE_FUNCTIONS.has(inner.fn) && inner.fn !== 'quantile_over_time') {
      const matrix = inner.args[0];
      if (matrix.kind === 'matrix') return this.rangeFunction(inner.fn, matrix, null, use, this.newColumn({}));
    }
    for (const column of this.vector(expr, what)) use(column);
  }

  /** The newest sample in [t - lookback, t] of each series at each step (offset shifts t). */
  private selector(selector: VectorSelector, emit: (column: Column) => void, scratch: Column | null): void {
    for (const series of this.select(selector)) {
      const { times, values, head } = series.points;
      const n = times.length;
      let column: Column | null = null;
      let next = head; // the first point after the step's instant
      for (let k = 0; k < this.count; k++) {
        const at = this.instants[k] - selector.offsetMs;
        while (next < n && times[next] <= at) next++;
        const i = next - 1;
        if (i < head || times[i] < at - this.lookbackMs) continue;
        column ??= this.target(series.labels, scratch);
        column.values[k] = values[i];
        column.present[k] = 1;
      }
      if (column) emit(column);
    }
  }

  private call(call: Call): Columns {
    const { fn, args } = call;
    if (fn === 'time') return { type: 'scalar', values: this.instants.map((t) => t / MS_PER_SECOND) };
    const f = MATH[fn];
    if (f) return { type: 'vector', columns: this.mapColumns(this.vector(args[0], vectorArgument(fn, 1)), f) };
    if (fn === 'histogram_quantile') {
      const phi = this.scalar(args[0], `${fn}() argument 1 must be a scalar`);
      return { type: 'vector', columns: this.histogramQuantile(phi, this.vector(args[1], vectorArgument(fn, 2))) };
    }
    if (!RANGE_FUNCTIONS.has(fn)) throw new NotColumnar(fn);
    const phi = fn === 'quantile_over_time' ? this.scalar(args[0], `${fn}() argument 1 must be a scalar`) : null;
    const matrix = args[phi ? 1 : 0];
    if (matrix.kind !== 'matrix') throw new NotColumnar(fn);
    return { type: 'vector', columns: this.collect((emit) => this.rangeFunction(fn, matrix, phi, emit, null)) };
  }

  /** The function over each series' samples in [t - range, t] (shifted by offset) at each step. */
  private rangeFunction(
    fn: string,
    matrix: MatrixSelector,
    phi: Float64Array | null,
    emit: (column: Column) => void,
    scratch: Column | null,
  ): void {
    const { offsetMs } = matrix.selector;
    const counter = fn === 'rate' || fn === 'increase';
    for (const series of this.select(matrix.selector)) {
      const { times, values, head } = series.points;
      const n = times.length;
      // Counter resets before each point: a window without any skips rate's scan for them.
      const resets = counter && !series.counts ? resetsBefore(values, head) : null;
      let column: Column | null = null;
      let lo = head; // the first point at or after the window's start
      let hi = head; // the first point after its end
      for (let k = 0; k < this.count; k++) {
        const to = this.instants[k] - offsetMs;
        const from = to - matrix.rangeMs;
        while (hi < n && times[hi] <= to) hi++;
        while (lo < hi && times[lo] < from) lo++;
        if (hi === lo) continue;
        const resetFree = resets !== null && resets[hi - 1] === resets[lo];
        const value = windowValue(fn, series, lo, hi, from, to, matrix.rangeMs, phi ? phi[k] : 0, resetFree);
        if (value === null) continue;
        column ??= this.target(fn === 'last_over_time' ? series.labels : dropName(series.labels), scratch);
        column.values[k] = value;
        column.present[k] = 1;
      }
      if (column) emit(column);
    }
  }

  /** Each column through `f`, without the metric name. */
  private mapColumns(columns: Column[], f: (v: number) => number): Column[] {
    return columns.map((c) => ({ labels: dropName(c.labels), values: c.values.map(f), present: c.present }));
  }

  /**
   * The groups' values at each step, each input column added in once, in input order (the order the step-by-step
   * aggregation meets the samples in): the same sums, means (incremental) and deviations (Welford) bit for bit.
   */
  private aggregation(agg: Aggregation): Column[] {
    const groups = new Map<string, { column: Column; n: Float64Array; mean: Float64Array | null }>();
    const deviation = agg.op === 'stddev' || agg.op === 'stdvar';
    this.forEachColumn(agg.expr, `${agg.op}() needs an instant vector`, (member) => {
      const { labels, key } = groupOf(agg, member.labels);
      let group = groups.get(key);
      if (!group) {
        const mean = deviation ? new Float64Array(this.count) : null;
        groups.set(key, (group = { column: this.newColumn(labels), n: new Float64Array(this.count), mean }));
      }
      addMember(agg.op, group.column, group.n, group.mean, member);
    });
    const out: Column[] = [];
    for (const { column, n } of groups.values()) {
      if (deviation) {
        for (let k = 0; k < this.count; k++) {
          if (!column.present[k]) continue;
          const variance = column.values[k] / n[k];
          column.values[k] = agg.op === 'stdvar' ? variance : Math.sqrt(variance);
        }
      }
      out.push(column);
    }
    return out;
  }

  /** Prometheus' bucketQuantile per group (labels without `le` and the metric name) and step. */
  private histogramQuantile(phi: Float64Array, input: Column[]): Column[] {
    const groups = new Map<string, { labels: Labels; les: number[]; members: Column[] }>();
    for (const member of input) {
      const bucket = histogramBucket(member.labels);
      if (!bucket) continue;
      let group = groups.get(bucket.key);
      if (!group) groups.set(bucket.key, (group = { labels: bucket.group, les: [], members: [] }));
      group.les.push(bucket.le);
      group.members.push(member);
    }
    const out: Column[] = [];
    for (const { labels, les, members } of groups.values()) {
      const column = this.newColumn(labels);
      for (let k = 0; k < this.count; k++) {
        const buckets: { le: number; count: number }[] = [];
        for (let m = 0; m < members.length; m++)
          if (members[m].present[k]) buckets.push({ le: les[m], count: members[m].values[k] });
        if (buckets.length === 0) continue;
        column.values[k] = bucketQuantile(phi[k], buckets);
        column.present[k] = 1;
      }
      out.push(column);
    }
    return out;
  }

  private binary(node: Binary): Columns {
    const lhs = this.eval(node.lhs);
    const rhs = this.eval(node.rhs);
    const comparison = COMPARISON_OPS.includes(node.op);
    if (lhs.type === 'scalar' && rhs.type === 'scalar') {
      const values = lhs.values.map((a, k) => {
        const [value] = scalarOp(node.op, a, rhs.values[k]);
        return comparison ? Number(value) : value;
      });
      return { type: 'scalar', values };
    }
    let operands: [Column[], Float64Array, boolean];
    if (lhs.type === 'vector' && rhs.type === 'scalar') operands = [lhs.columns, rhs.values, false];
    else if (lhs.type === 'scalar' && rhs.type === 'vector') operands = [rhs.columns, lhs.values, true];
    else throw new NotColumnar('vector matching');
    const [vector, scalar, swap] = operands;
    const keepName = comparison && !node.returnBool;
    const out: Column[] = [];
    for (const input of vector) {
      const column = this.newColumn(keepName ? input.labels : dropName(input.labels));
      let any = false;
      for (let k = 0; k < this.count; k++) {
        if (!input.present[k]) continue;
        const v = input.values[k];
        let [value, keep] = swap ? scalarOp(node.op, scalar[k], v) : scalarOp(node.op, v, scalar[k]);
        if (comparison && swap) value = v;
        if (node.returnBool) {
          value = keep ? 1 : 0;
          keep = true;
        }
        if (!keep) continue;
        column.values[k] = value;
        column.present[k] = 1;
        any = true;
      }
      if (any) out.push(column);
    }
    return { type: 'vector', columns: out };
  }
}

/**
 * Adds one member's column into its group's, step by step as the step-by-step aggregation adds a sample (sum from
 * 0, incremental mean, min/max skipping NaN, Welford's sum of squared deviations in `values` for stddev/stdvar).
 */
function addMember(
  op: Aggregation['op'],
  group: Column,
  n: Float64Array,
  mean: Float64Array | null,
  member: Column,
): void {
  const { values, present } = group;
  const count = values.length;
  const input = member.values;
  const has = member.present;
  switch (op) {
    case 'sum':
      for (let k = 0; k < count; k++) {
        if (!has[k]) continue;
        values[k] = present[k] ? values[k] + input[k] : 0 + input[k];
        present[k] = 1;
      }
      return;
    case 'avg':
      for (let k = 0; k < count; k++) {
        if (!has[k]) continue;
        const c = ++n[k];
        values[k] = present[k] ? values[k] + (input[k] / c - values[k] / c) : input[k];
        present[k] = 1;
      }
      return;
    case 'count':
    case 'group':
      for (let k = 0; k < count; k++) {
        if (!has[k]) continue;
        values[k] = op === 'count' ? ++n[k] : 1;
        present[k] = 1;
      }
      return;
    case 'min':
    case 'max':
      for (let k = 0; k < count; k++) {
        if (!has[k]) continue;
        const v = input[k];
        const a = values[k];
        values[k] = !present[k] || Number.isNaN(a) || (op === 'min' ? v < a : v > a) ? v : a;
        present[k] = 1;
      }
      return;
    default: {
      const m = mean!;
      for (let k = 0; k < count; k++) {
        if (!has[k]) continue;
        const v = input[k];
        const c = ++n[k];
        const first = !present[k];
        const delta = v - (first ? 0 : m[k]);
        m[k] = (first ? 0 : m[k]) + delta / c;
        values[k] = (first ? 0 : values[k]) + delta * (v - m[k]);
        present[k] = 1;
      }
    }
  }
}

/** resets[i]: how many points in (head, i] are below the point before them. */
function resetsBefore(values: number[], head: number): Int32Array {
  const resets = new Int32Array(values.length);
  for (let i = head + 1; i < values.length; i++) resets[i] = resets[i - 1] + (values[i] < values[i - 1] ? 1 : 0);
  return resets;
}

function vectorArgument(fn: string, position: number): string {
  return `${fn}() argument ${position} must be an instant vector`;
}
