/**
 * Evaluates a parsed rule at one instant over in-memory windows. Semantics (README "Alert rule language"):
 *   selector            the newest sample at or before `now`, if it is newer than the lookback (else the series
 *                       is stale)
 *   <fn>_over_time      over the samples with now - range < t <= now (none: no result for the series)
 *   rate / increase     counter increase over the window (a drop is a counter reset); rate divides it by the time
 *                       between the first and last sample of the window (at least two samples; no extrapolation)
 *   events functions    count_over_time = events in the window, rate = that count / range seconds (a stream keeps
 *                       a count per millisecond, so events at the same instant are all counted)
 *   aggregations        group by the listed labels (none: one group), drop the others
 *   comparison          keeps the elements for which `value op threshold` holds, with their value
 * Each element keeps the origin (topic, partition) of its series, or null when an aggregation combined several.
 */
import type { Aggregate, AggregateOp, Comparison, RangeCall, Selector, ValueExpr } from './ast.ts';
import { matches, type EventStream, type Labels, type MetricSeries, type Origin, type Points } from './windows.ts';
import { MS_PER_SECOND } from '../units.ts';

export interface Element {
  labels: Labels;
  value: number;
  origin: Origin | null;
}

export interface DataView {
  series(name: string): Iterable<MetricSeries>;
  streams(selector: Selector): Iterable<EventStream>;
}

export interface EvalContext {
  now: number;
  lookbackMs: number;
  data: DataView;
}

export function evaluate(expr: ValueExpr, ctx: EvalContext): Element[] {
  switch (expr.kind) {
    case 'selector':
      return instant(expr, ctx);
    case 'range_call':
      return rangeCall(expr, ctx);
    case 'aggregate':
      return aggregate(expr, evaluate(expr.expr, ctx));
  }
}

export function compare(elements: Element[], comparison: Comparison): Element[] {
  const { op, threshold } = comparison;
  return elements.filter(({ value }) => {
    switch (op) {
      case '>':
        return value > threshold;
      case '>=':
        return value >= threshold;
      case '<':
        return value < threshold;
      case '<=':
        return value <= threshold;
      case '==':
        return value === threshold;
      case '!=':
        return value !== threshold;
    }
  });
}

function* selectSeries(selector: Selector, data: DataView): Iterable<MetricSeries> {
  for (const series of data.series(selector.name)) {
    if (selector.matchers.every((m) => matches(m, series.labels[m.label]))) yield series;
  }
}

function instant(selector: Selector, ctx: EvalContext): Element[] {
  const out: Element[] = [];
  for (const series of selectSeries(selector, ctx.data)) {
    const { points } = series;
    const i = points.upperBound(ctx.now) - 1;
    if (i < points.head || points.times[i] <= ctx.now - ctx.lookbackMs) continue;
    out.push({ labels: series.labels, value: points.values[i], origin: series.origin });
  }
  return out;
}

function rangeCall(call: RangeCall, ctx: EvalContext): Element[] {
  const out: Element[] = [];
  const from = ctx.now - call.rangeMs;
  if (call.selector.source === 'events') {
    for (const stream of ctx.data.streams(call.selector)) {
      const { points } = stream;
      let count = 0;
      for (let i = points.upperBound(from), end = points.upperBound(ctx.now); i < end; i++) count += points.values[i];
      if (count === 0) continue;
      out.push({
        labels: stream.labels,
        value: call.fn === 'rate' ? count / (call.rangeMs / MS_PER_SECOND) : count,
        origin: stream.origin,
      });
    }
    return out;
  }
  for (const series of selectSeries(call.selector, ctx.data)) {
    const value = overWindow(call, series.points, series.points.upperBound(from), series.points.upperBound(ctx.now));
    if (value !== null) out.push({ labels: series.labels, value, origin: series.origin });
  }
  return out;
}

/** The function over points[lo, hi). */
function overWindow(call: RangeCall, points: Points, lo: number, hi: number): number | null {
  const n = hi - lo;
  if (n === 0) return null;
  const { values, times } = points;
  switch (call.fn) {
    case 'count_over_time':
      return n;
    case 'sum_over_time':
    case 'avg_over_time': {
      let sum = 0;
      for (let i = lo; i < hi; i++) sum += values[i];
      return call.fn === 'sum_over_time' ? sum : sum / n;
    }
    case 'max_over_time': {
      let max = -Infinity;
      for (let i = lo; i < hi; i++) if (values[i] > max) max = values[i];
      return max;
    }
    case 'min_over_time': {
      let min = Infinity;
      for (let i = lo; i < hi; i++) if (values[i] < min) min = values[i];
      return min;
    }
    case 'rate':
    case 'increase': {
      if (n < 2) return null;
      let increase = 0;
      for (let i = lo + 1; i < hi; i++) {
        const delta = values[i] - values[i - 1];
        increase += delta >= 0 ? delta : values[i]; // a reset: the counter restarted from zero
      }
      if (call.fn === 'increase') return increase;
      const seconds = (times[hi - 1] - times[lo]) / MS_PER_SECOND;
      return seconds > 0 ? increase / seconds : null;
    }
  }
}

/** The group of an element under `by` (null: everything in one group): its key and its kept labels. */
export function groupOf(by: string[] | null, labels: Labels): { key: string; labels: Labels } {
  const kept: Labels = {};
  if (by) for (const name of by) if (labels[name] !== undefined && labels[name] !== '') kept[name] = labels[name];
  return { key: by ? by.map((name) => kept[name] ?? '').join('\u0000') : '', labels: kept };
}

/** Running figures of a group; every aggregation operator is a function of them, so partial groups merge exactly. */
export interface GroupFigures {
  sum: number;
  count: number;
  min: number;
  max: number;
}

export function addTo(figures: GroupFigures, value: number): void {
  figures.sum += value;
  figures.count++;
  if (value < figures.min) figures.min = value;
  if (value > figures.max) figures.max = value;
}

export function emptyFigures(): GroupFigures {
  return { sum: 0, count: 0, min: Infinity, max: -Infinity };
}

export function aggregateValue(op: AggregateOp, f: GroupFigures): number {
  switch (op) {
    case 'sum':
      return f.sum;
    case 'avg':
      return f.sum / f.count;
    case 'max':
      return f.max;
    case 'min':
      return f.min;
    case 'count':
      return f.count;
  }
}

function aggregate(agg: Aggregate, input: Element[]): Element[] {
  const groups = new Map<string, { labels: Labels; figures: GroupFigures }>();
  for (const element of input) {
    const { key, labels } = groupOf(agg.by, element.labels);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { labels, figures: emptyFigures() }));
    addTo(group.figures, element.value);
  }
  return [...groups.values()].map(({ labels, figures }) => ({
    labels,
    value: aggregateValue(agg.op, figures),
    origin: null,
  }));
}
