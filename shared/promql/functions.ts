/**
 * The PromQL functions of signatures.ts, evaluated at one instant. Range functions receive, per selected series,
 * the bounds of its samples inside the window; rate/increase/delta extrapolate as Prometheus' extrapolatedRate
 * does (towards the window edges, by at most half the average sample interval beyond 110% of it, never below zero
 * for counters). Every function but last_over_time, label_replace and sort drops the metric name.
 */
import { quantile } from './aggregations.ts';
import { dropName, labelsKey, PromqlExecutionError, type Sample, type StoredSeries, type Value } from './engine.ts';
import type { Call, Expr, MatrixSelector, VectorSelector } from './expr.ts';
import type { Labels } from './windows.ts';
import { MS_PER_SECOND } from '../units.ts';

const ROUND_HALF_UP = 0.5;
/** label_replace(v, dst_label, replacement, src_label, regex): the positions of its string arguments. */
const LABEL_REPLACE_ARG = { dst: 1, replacement: 2, src: 3, regex: 4 };
/** Prometheus extrapolates a range to its boundary when the gap is within 110% of the average sample interval. */
const EXTRAPOLATION_THRESHOLD = 1.1;

export interface CallContext {
  eval(expr: Expr): Value;
  windows(matrix: MatrixSelector): { series: StoredSeries; lo: number; hi: number; from: number; to: number }[];
}

const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function callFunction(call: Call, t: number, ctx: CallContext): Value {
  const { fn, args } = call;
  const scalarArg = (i: number): number => {
    const v = ctx.eval(args[i]);
    if (v.type !== 'scalar') throw new PromqlExecutionError(`${fn}() argument ${i + 1} must be a scalar`);
    return v.value;
  };
  const vectorArg = (i: number): Sample[] => {
    const v = ctx.eval(args[i]);
    if (v.type !== 'vector') throw new PromqlExecutionError(`${fn}() argument ${i + 1} must be an instant vector`);
    return v.samples;
  };
  const stringArg = (i: number): string => {
    const v = ctx.eval(args[i]);
    if (v.type !== 'string') throw new PromqlExecutionError(`${fn}() argument ${i + 1} must be a string`);
    return v.value;
  };
  const mapValues = (f: (v: number) => number, samples = vectorArg(0)): Value => ({
    type: 'vector',
    samples: samples.map((s) => ({ labels: dropName(s.labels), value: f(s.value) })),
  });
  const vector = (samples: Sample[]): Value => ({ type: 'vector', samples });

  switch (fn) {
    case 'time':
      return { type: 'scalar', value: t / MS_PER_SECOND };
    case 'vector':
      return vector([{ labels: {}, value: scalarArg(0) }]);
    case 'scalar': {
      const samples = vectorArg(0);
      return { type: 'scalar', value: samples.length === 1 ? samples[0].value : NaN };
    }
    case 'abs':
      return mapValues(Math.abs);
    case 'ceil':
      return mapValues(Math.ceil);
    case 'floor':
      return mapValues(Math.floor);
    case 'exp':
      return mapValues(Math.exp);
    case 'ln':
      return mapValues(Math.log);
    case 'log2':
      return mapValues(Math.log2);
    case 'log10':
      return mapValues(Math.log10);
    case 'sqrt':
      return mapValues(Math.sqrt);
    case 'sgn':
      return mapValues(Math.sign);
    case 'round': {
      const inverse = 1 / (args.length > 1 ? scalarArg(1) : 1);
      return mapValues((v) => Math.floor(v * inverse + ROUND_HALF_UP) / inverse);
    }
    case 'clamp': {
      const [min, max] = [scalarArg(1), scalarArg(2)];
      if (max < min) return vector([]);
      return mapValues((v) => Math.max(min, Math.min(max, v)));
    }
    case 'clamp_min': {
      const min = scalarArg(1);
      return mapValues((v) => Math.max(min, v));
    }
    case 'clamp_max': {
      const max = scalarArg(1);
      return mapValues((v) => Math.min(max, v));
    }
    case 'sort':
    case 'sort_desc': {
      const sign = fn === 'sort' ? 1 : -1;
      return vector([...vectorArg(0)].sort((a, b) => sign * (a.value - b.value)));
    }
    case 'absent': {
      if (vectorArg(0).length > 0) return vector([]);
      return vector([{ labels: absentLabels(args[0]), value: 1 }]);
    }
    case 'histogram_quantile':
      return vector(histogramQuantile(scalarArg(0), vectorArg(1)));
    case 'label_replace':
      return vector(
        labelReplace(
          vectorArg(0),
          stringArg(LABEL_REPLACE_ARG.dst),
          stringArg(LABEL_REPLACE_ARG.replacement),
          stringArg(LABEL_REPLACE_ARG.src),
          stringArg(LABEL_REPLACE_ARG.regex),
        ),
      );
    default:
      return rangeFunction(call, ctx, args[0].kind === 'matrix' ? args[0] : (args[1] as MatrixSelector), scalarArg);
  }
}

function rangeFunction(call: Call, ctx: CallContext, matrix: MatrixSelector, scalarArg: (i: number) => number): Value {
  const fn = call.fn;
  const phi = fn === 'quantile_over_time' ? scalarArg(0) : 0;
  const out: Sample[] = [];
  const windows = ctx.windows(matrix);
  if (fn === 'absent_over_time') {
    if (windows.some((w) => w.hi > w.lo)) return { type: 'vector', samples: [] };
    return { type: 'vector', samples: [{ labels: absentLabels(matrix), value: 1 }] };
  }
  for (const { series, lo, hi, from, to } of windows) {
    if (hi === lo) continue;
    const value = windowValue(fn, series, lo, hi, from, to, matrix.rangeMs, phi);
    if (value === null) continue;
    out.push({ labels: fn === 'last_over_time' ? series.labels : dropName(series.labels), value });
  }
  return { type: 'vector', samples: out };
}

/**
 * A range function (not absent_over_time) over the samples [lo, hi) of one series, a window of at least one sample
 * from `from` to `to`; null where it has no value (rate over fewer than two samples). `resetFree`: the caller knows
 * no sample of the window is below the one before it (rate and increase then skip looking for counter resets).
 */
export function windowValue(
  fn: string,
  series: StoredSeries,
  lo: number,
  hi: number,
  from: number,
  to: number,
  rangeMs: number,
  phi: number,
  resetFree = false,
): number | null {
  const n = hi - lo;
  const times = series.points.times;
  const values = series.points.values;
  if (series.counts) return countsOverWindow(fn, values, lo, hi, rangeMs);
  switch (fn) {
    case 'rate':
    case 'increase':
    case 'delta':
      return extrapolatedRate(times, values, lo, hi, from, to, fn !== 'delta', fn === 'rate', rangeMs, resetFree);
    case 'irate':
    case 'idelta':
      return instantRate(times, values, lo, hi, fn === 'irate');
    case 'resets':
    case 'changes': {
      let count = 0;
      for (let i = lo + 1; i < hi; i++) {
        const [prev, cur] = [values[i - 1], values[i]];
        if (fn === 'resets' ? cur < prev : cur !== prev && !(Number.isNaN(cur) && Number.isNaN(prev))) count++;
      }
      return count;
    }
    case 'count_over_time':
      return n;
    case 'present_over_time':
      return 1;
    case 'last_over_time':
      return values[hi - 1];
    case 'sum_over_time': {
      const sum = new KahanSum();
      for (let i = lo; i < hi; i++) sum.add(values[i]);
      return sum.value;
    }
    case 'avg_over_time': {
      // Prometheus' incremental mean, compensated; a sum would overflow where the mean does not.
      const mean = new KahanSum();
      for (let i = lo, count = 1; i < hi; i++, count++) mean.add(values[i] / count - mean.sum / count);
      return mean.value;
    }
    case 'min_over_time':
      return values.slice(lo, hi).reduce((a, b) => (Number.isNaN(a) || b < a ? b : a));
    case 'max_over_time':
      return values.slice(lo, hi).reduce((a, b) => (Number.isNaN(a) || b > a ? b : a));
    case 'stddev_over_time':
    case 'stdvar_over_time': {
      const mean = new KahanSum();
      const aux = new KahanSum();
      for (let i = lo, count = 1; i < hi; i++, count++) {
        const delta = values[i] - mean.value;
        mean.add(delta / count);
        aux.add(delta * (values[i] - mean.value));
      }
      return fn === 'stdvar_over_time' ? aux.value / n : Math.sqrt(aux.value / n);
    }
    case 'quantile_over_time':
      return quantile(phi, values.slice(lo, hi));
    default:
      throw new PromqlExecutionError(`function ${fn}() is not supported`);
  }
}

/**
 * count_over_time and rate over a series whose points count occurrences (events): the occurrences in the window,
 * and that number per second of the range. The rule compiler admits no other function over such a series.
 */
function countsOverWindow(fn: string, values: number[], lo: number, hi: number, rangeMs: number): number {
  let count = 0;
  for (let i = lo; i < hi; i++) count += values[i];
  if (fn === 'count_over_time') return count;
  if (fn === 'rate') return count / (rangeMs / MS_PER_SECOND);
  throw new PromqlExecutionError(`${fn}() needs metric values; over events use count_over_time or rate`);
}

/** Neumaier-compensated summation, as Prometheus sums over time (so answers agree to the last bit). */
class KahanSum {
  sum = 0;
  private c = 0;

  add(inc: number): void {
    const t = this.sum + inc;
    if (Math.abs(this.sum) >= Math.abs(inc)) this.c += this.sum - t + inc;
    else this.c += inc - t + this.sum;
    this.sum = t;
  }

  get value(): number {
    return this.sum + this.c;
  }
}

/** Prometheus' extrapolatedRate: the increase (or delta) over the window, extrapolated to its edges. */
function extrapolatedRate(
  times: number[],
  values: number[],
  lo: number,
  hi: number,
  from: number,
  to: number,
  isCounter: boolean,
  isRate: boolean,
  rangeMs: number,
  resetFree = false,
): number | null {
  if (hi - lo < 2) return null;
  const first = values[lo];
  let result = values[hi - 1] - first;
  // The caller knows no point of the window is below the one before it: the scan would only add 0 for a negative first.
  if (isCounter && resetFree) {
    if (first < 0) result += 0;
  } else if (isCounter) {
    let last = 0;
    for (let i = lo; i < hi; i++) {
      if (values[i] < last) result += last;
      last = values[i];
    }
  }
  let durationToStart = (times[lo] - from) / MS_PER_SECOND;
  const durationToEnd = (to - times[hi - 1]) / MS_PER_SECOND;
  const sampled = (times[hi - 1] - times[lo]) / MS_PER_SECOND;
  const average = sampled / (hi - lo - 1);
  if (isCounter && result > 0 && first >= 0) {
    const durationToZero = sampled * (first / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = average * EXTRAPOLATION_THRESHOLD;
  let interval = sampled;
  interval += durationToStart < threshold ? durationToStart : average / 2;
  interval += durationToEnd < threshold ? durationToEnd : average / 2;
  result *= interval / sampled;
  return isRate ? result / (rangeMs / MS_PER_SECOND) : result;
}

function instantRate(times: number[], values: number[], lo: number, hi: number, isRate: boolean): number | null {
  if (hi - lo < 2) return null;
  const [prev, last] = [values[hi - 2], values[hi - 1]];
  const result = isRate && last < prev ? last : last - prev;
  if (!isRate) return result;
  const seconds = (times[hi - 1] - times[hi - 2]) / MS_PER_SECOND;
  return seconds === 0 ? null : result / seconds;
}

/** absent()'s labels: those of the selector's equality matchers (not the metric name). */
function absentLabels(expr: Expr): Labels {
  const selector: VectorSelector | null = expr.kind === 'vector' ? expr : expr.kind === 'matrix' ? expr.selector : null;
  const labels: Labels = {};
  if (!selector) return labels;
  const seen = new Set<string>();
  for (const m of selector.matchers) {
    if (m.label === '__name__') continue;
    if (m.op === '=' && !seen.has(m.label)) labels[m.label] = m.value;
    else delete labels[m.label];
    seen.add(m.label);
  }
  return labels;
}

/** Prometheus' bucketQuantile over the `le` buckets of each group (labels without `le` and the metric name). */
function histogramQuantile(phi: number, samples: Sample[]): Sample[] {
  const groups = new Map<string, { labels: Labels; buckets: { le: number; count: number }[] }>();
  for (const sample of samples) {
    const bucket = histogramBucket(sample.labels);
    if (!bucket) continue;
    let group = groups.get(bucket.key);
    if (!group) groups.set(bucket.key, (group = { labels: bucket.group, buckets: [] }));
    group.buckets.push({ le: bucket.le, count: sample.value });
  }
  return [...groups.values()].map(({ labels, buckets }) => ({ labels, value: bucketQuantile(phi, buckets) }));
}

/**
 * A histogram bucket series' upper bound and its group (its labels without `le` and the metric name, and their
 * key); null for a series without a valid `le`, which histogram_quantile ignores.
 */
export function histogramBucket(labels: Labels): { le: number; group: Labels; key: string } | null {
  const text = labels.le;
  if (text === undefined) return null;
  const le = text === '+Inf' || text === 'Inf' || text === '+inf' ? Infinity : Number(text);
  if (text.trim() === '' || Number.isNaN(le)) return null;
  const { le: _le, ...group } = dropName(labels);
  return { le, group, key: labelsKey(group) };
}

export function bucketQuantile(q: number, input: { le: number; count: number }[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = [...input].sort((a, b) => a.le - b.le);
  if (sorted.length === 0 || sorted[sorted.length - 1].le !== Infinity) return NaN;
  const buckets: { le: number; count: number }[] = [];
  for (const b of sorted) {
    const last = buckets[buckets.length - 1];
    if (last && last.le === b.le) last.count += b.count;
    else buckets.push({ ...b });
  }
  let max = -Infinity;
  for (const b of buckets) {
    if (b.count > max) max = b.count;
    else b.count = max;
  }
  if (buckets.length < 2) return NaN;
  const observations = buckets[buckets.length - 1].count;
  if (observations === 0) return NaN;
  let rank = q * observations;
  let b = 0;
  while (b < buckets.length - 1 && buckets[b].count < rank) b++;
  if (b === buckets.length - 1) return buckets[buckets.length - 2].le;
  if (b === 0 && buckets[0].le <= 0) return buckets[0].le;
  let start = 0;
  let count = buckets[b].count;
  if (b > 0) {
    start = buckets[b - 1].le;
    count -= buckets[b - 1].count;
    rank -= buckets[b - 1].count;
  }
  return start + (buckets[b].le - start) * (rank / count);
}

function labelReplace(samples: Sample[], dst: string, replacement: string, src: string, pattern: string): Sample[] {
  let regex: RegExp;
  try {
    regex = new RegExp(`^(?:${pattern})$`, 'su');
  } catch (error) {
    throw new PromqlExecutionError(`invalid regular expression in label_replace(): ${(error as Error).message}`);
  }
  if (!LABEL.test(dst))
    throw new PromqlExecutionError(`invalid destination label name in label_replace(): ${JSON.stringify(dst)}`);
  return samples.map((sample) => {
    const match = regex.exec(sample.labels[src] ?? '');
    if (!match) return sample;
    const value = replacement.replace(
      /\$(?:\{(\w+)\}|(\w+))/g,
      (_all, braced: string | undefined, bare: string | undefined) => {
        const ref = braced ?? bare!;
        const group = /^\d+$/.test(ref) ? match[Number(ref)] : match.groups?.[ref];
        return group ?? '';
      },
    );
    const labels = { ...sample.labels };
    if (value === '') delete labels[dst];
    else labels[dst] = value;
    return { labels, value: sample.value };
  });
}
