/**
 * PromQL aggregation operators over one instant vector, grouped `by` or `without` labels, as Prometheus computes
 * them (stddev/stdvar are population figures by Welford's method; quantile interpolates between ranks).
 */
import type { Aggregation } from './expr.ts';
import type { Sample } from './engine.ts';
import type { Labels } from './windows.ts';

const NAME = '__name__';

function groupLabels(agg: Aggregation, labels: Labels): Labels {
  const grouping = agg.grouping;
  if (!grouping) return {};
  const out: Labels = {};
  if (grouping.without) {
    const dropped = new Set([NAME, ...grouping.labels]);
    for (const [k, v] of Object.entries(labels)) if (!dropped.has(k)) out[k] = v;
  } else {
    for (const name of grouping.labels) if (labels[name] !== undefined && labels[name] !== '') out[name] = labels[name];
  }
  return out;
}

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0001${labels[k]}`)
    .join('\u0002');
}

/** φ-quantile of `values` (sorted here), interpolated between the two nearest ranks. */
export function quantile(phi: number, values: number[]): number {
  if (values.length === 0 || Number.isNaN(phi)) return NaN;
  if (phi < 0) return -Infinity;
  if (phi > 1) return Infinity;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = phi * (sorted.length - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(sorted.length - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return sorted[lower] * (1 - weight) + sorted[upper] * weight;
}

/** Per aggregation node, each input label set's group (input label sets repeat at every step of a range query). */
const groupCache = new WeakMap<Aggregation, WeakMap<Labels, { labels: Labels; key: string }>>();

export function groupOf(agg: Aggregation, labels: Labels): { labels: Labels; key: string } {
  let byLabels = groupCache.get(agg);
  if (!byLabels) groupCache.set(agg, (byLabels = new WeakMap()));
  let group = byLabels.get(labels);
  if (!group) {
    const kept = groupLabels(agg, labels);
    byLabels.set(labels, (group = { labels: kept, key: key(kept) }));
  }
  return group;
}

export function aggregate(agg: Aggregation, input: Sample[], param: number | null): Sample[] {
  const groups = new Map<string, { labels: Labels; members: Sample[] }>();
  for (const sample of input) {
    const { labels, key: k } = groupOf(agg, sample.labels);
    let group = groups.get(k);
    if (!group) groups.set(k, (group = { labels, members: [] }));
    group.members.push(sample);
  }
  const out: Sample[] = [];
  for (const { labels, members } of groups.values()) {
    if (agg.op === 'topk' || agg.op === 'bottomk') {
      const k = Math.floor(param ?? 0);
      if (k < 1) continue;
      const sign = agg.op === 'topk' ? -1 : 1;
      const ordered = [...members].sort((a, b) => {
        if (Number.isNaN(a.value)) return 1;
        if (Number.isNaN(b.value)) return -1;
        return sign * (a.value - b.value);
      });
      out.push(...ordered.slice(0, k));
      continue;
    }
    out.push({
      labels,
      value: reduce(
        agg.op,
        members.map((m) => m.value),
        param,
      ),
    });
  }
  return out;
}

function reduce(op: Aggregation['op'], values: number[], param: number | null): number {
  switch (op) {
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'avg': {
      let mean = values[0];
      for (let i = 1; i < values.length; i++) mean += values[i] / (i + 1) - mean / (i + 1);
      return mean;
    }
    case 'count':
      return values.length;
    case 'group':
      return 1;
    case 'min':
      return values.reduce((a, b) => (Number.isNaN(a) || b < a ? b : a));
    case 'max':
      return values.reduce((a, b) => (Number.isNaN(a) || b > a ? b : a));
    case 'stddev':
    case 'stdvar': {
      let mean = 0;
      let m2 = 0;
      values.forEach((v, i) => {
        const delta = v - mean;
        mean += delta / (i + 1);
        m2 += delta * (v - mean);
      });
      const variance = m2 / values.length;
      return op === 'stdvar' ? variance : Math.sqrt(variance);
    }
    case 'quantile':
      return quantile(param ?? NaN, values);
    default:
      throw new Error(`unreachable aggregation ${op}`);
  }
}
