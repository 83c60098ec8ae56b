/**
 * OTLP metric data points → vigil metric samples (docs/otlp.md has the table and the reasons):
 *   gauge                          gauge `<name>` (unit `1`: `<name>_ratio`)
 *   sum, monotonic, delta          counter `<name>_total`: the delta is the increment vigil's counters store
 *   sum, monotonic, cumulative     gauge `<name>_total` holding the running total ("counter semantics": rate() in
 *                                  alert rules and in Prometheus reading the exposition treat a drop as a reset)
 *   sum, non-monotonic, cumulative gauge `<name>`
 *   sum, non-monotonic, delta      rejected (no Prometheus representation), counted in the partial success
 *   histogram, delta               counters `<name>_bucket{le}` (cumulative over le, +Inf = count), `_sum`, `_count`
 *   histogram, cumulative          the same series as gauges holding running totals
 *   exponential histogram          rejected, counted
 *   summary                        gauges `<name>{quantile}`, `<name>_sum`, `<name>_count`
 * Labels: the point's attributes (names sanitised), `job` (service.namespace/service.name) and `instance`
 * (service.instance.id) from the resource, `otel_scope_name`/`otel_scope_version` from the scope. A point flagged
 * "no recorded value" is skipped (Prometheus' staleness marker has no vigil equivalent).
 */
import { Conversion, type ConversionLimits } from './conversion.ts';
import { attributesToLabels, metricName } from './names.ts';
import { nanosToMillis, type KeyValue, type Nanos } from './values.ts';

const DELTA = 1;
const CUMULATIVE = 2;
const FLAG_NO_RECORDED_VALUE = 1;

interface Long {
  toNumber(): number;
}

interface NumberPoint {
  attributes?: KeyValue[] | null;
  timeUnixNano?: Nanos;
  value?: string;
  asDouble?: number;
  asInt?: Long | number;
  flags?: number;
}

interface HistogramPoint {
  attributes?: KeyValue[] | null;
  timeUnixNano?: Nanos;
  count?: Long | number;
  sum?: number | null;
  bucketCounts?: (Long | number)[] | null;
  explicitBounds?: number[] | null;
  flags?: number;
}

interface SummaryPoint {
  attributes?: KeyValue[] | null;
  timeUnixNano?: Nanos;
  count?: Long | number;
  sum?: number;
  quantileValues?: { quantile?: number; value?: number }[] | null;
  flags?: number;
}

interface Metric {
  name?: string;
  unit?: string;
  data?: string;
  gauge?: { dataPoints?: NumberPoint[] | null } | null;
  sum?: { dataPoints?: NumberPoint[] | null; aggregationTemporality?: number; isMonotonic?: boolean } | null;
  histogram?: { dataPoints?: HistogramPoint[] | null; aggregationTemporality?: number } | null;
  exponentialHistogram?: { dataPoints?: unknown[] | null } | null;
  summary?: { dataPoints?: SummaryPoint[] | null } | null;
}

interface MetricsRequest {
  resourceMetrics?:
    | {
        resource?: { attributes?: KeyValue[] | null } | null;
        scopeMetrics?: { scope?: { name?: string; version?: string } | null; metrics?: Metric[] | null }[] | null;
      }[]
    | null;
}

type SampleType = 'counter' | 'gauge';

/** Labels every point of a resource and scope carries. */
function baseLabels(
  resource: { attributes?: KeyValue[] | null } | null | undefined,
  scope: { name?: string; version?: string } | null | undefined,
): Record<string, string> {
  let name = '';
  let namespace = '';
  let instance = '';
  for (const kv of resource?.attributes ?? []) {
    if (kv.value?.value !== 'stringValue') continue;
    if (kv.key === 'service.name') name = kv.value.stringValue ?? '';
    else if (kv.key === 'service.namespace') namespace = kv.value.stringValue ?? '';
    else if (kv.key === 'service.instance.id') instance = kv.value.stringValue ?? '';
  }
  const labels: Record<string, string> = {};
  if (name !== '') labels.job = namespace === '' ? name : `${namespace}/${name}`;
  if (instance !== '') labels.instance = instance;
  if (scope?.name) labels.otel_scope_name = scope.name;
  if (scope?.version) labels.otel_scope_version = scope.version;
  return labels;
}

export function metricsToSamples(request: unknown, limits: ConversionLimits): Conversion {
  const out = new Conversion(limits, ['resource_metrics', 'scope_metrics', 'data_points'], 'data points');
  const resources = (request as MetricsRequest).resourceMetrics ?? [];
  for (let r = 0; r < resources.length; r++) {
    const scopes = resources[r].scopeMetrics ?? [];
    for (let s = 0; s < scopes.length; s++) {
      const base = baseLabels(resources[r].resource, scopes[s].scope);
      let index = 0;
      for (const metric of scopes[s].metrics ?? []) index = addMetric(out, metric, base, r, s, index);
    }
  }
  return out;
}

/** Adds the points of one metric; returns the index the scope's next point gets. */
function addMetric(
  out: Conversion,
  metric: Metric,
  base: Record<string, string>,
  r: number,
  s: number,
  index: number,
): number {
  const name = metric.name ?? '';
  const unit = metric.unit ?? '';
  const depth = out.limits.maxDepth;
  const labelsOf = (attributes: KeyValue[] | null | undefined) => ({
    ...attributesToLabels(attributes, depth),
    ...base,
  });
  switch (metric.data) {
    case 'gauge':
      for (const point of metric.gauge?.dataPoints ?? []) {
        const unitIndex = out.unit(r, s, index++);
        addNumber(out, unitIndex, metricName(name, unit, 'gauge'), 'gauge', point, labelsOf);
      }
      return index;
    case 'sum': {
      const sum = metric.sum!;
      const temporality = sum.aggregationTemporality ?? 0;
      const monotonic = sum.isMonotonic === true;
      for (const point of sum.dataPoints ?? []) {
        const unitIndex = out.unit(r, s, index++);
        if (temporality !== DELTA && temporality !== CUMULATIVE)
          out.reject(unitIndex, `${name}: aggregation_temporality must be DELTA (1) or CUMULATIVE (2)`);
        else if (!monotonic && temporality === DELTA)
          out.reject(
            unitIndex,
            `${name}: a non-monotonic sum with DELTA temporality has no Prometheus representation; ` +
              'export it as CUMULATIVE',
          );
        else if (!monotonic) addNumber(out, unitIndex, metricName(name, unit, 'other'), 'gauge', point, labelsOf);
        else
          addNumber(
            out,
            unitIndex,
            metricName(name, unit, 'counter'),
            temporality === DELTA ? 'counter' : 'gauge',
            point,
            labelsOf,
          );
      }
      return index;
    }
    case 'histogram': {
      const histogram = metric.histogram!;
      const temporality = histogram.aggregationTemporality ?? 0;
      const family = metricName(name, unit, 'other');
      for (const point of histogram.dataPoints ?? []) {
        const unitIndex = out.unit(r, s, index++);
        if (temporality !== DELTA && temporality !== CUMULATIVE)
          out.reject(unitIndex, `${name}: aggregation_temporality must be DELTA (1) or CUMULATIVE (2)`);
        else addHistogram(out, unitIndex, family, temporality === DELTA ? 'counter' : 'gauge', point, labelsOf);
      }
      return index;
    }
    case 'summary': {
      const family = metricName(name, unit, 'other');
      for (const point of metric.summary?.dataPoints ?? [])
        addSummary(out, out.unit(r, s, index++), family, point, labelsOf);
      return index;
    }
    case 'exponentialHistogram':
      for (let i = 0; i < (metric.exponentialHistogram?.dataPoints ?? []).length; i++) {
        out.reject(
          out.unit(r, s, index++),
          `${name}: exponential histograms are not supported; use explicit bucket histograms`,
        );
      }
      return index;
    default:
      return index;
  }
}

type LabelsOf = (attributes: KeyValue[] | null | undefined) => Record<string, string>;

function sample(
  name: string,
  type: SampleType,
  value: number,
  labels: Record<string, string>,
  timestamp: number | null,
): Record<string, unknown> {
  const item: Record<string, unknown> = { name, metric_type: type, value, labels };
  if (timestamp !== null) item.timestamp = timestamp;
  return item;
}

function toNumber(value: Long | number | undefined | null): number {
  if (value === undefined || value === null) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

function addNumber(
  out: Conversion,
  unit: number,
  name: string,
  type: SampleType,
  point: NumberPoint,
  labelsOf: LabelsOf,
): void {
  if (((point.flags ?? 0) & FLAG_NO_RECORDED_VALUE) !== 0) return;
  let value: number;
  if (point.value === 'asDouble') value = point.asDouble ?? 0;
  else if (point.value === 'asInt') value = toNumber(point.asInt);
  else {
    out.reject(unit, `${name}: the data point has no value (as_double or as_int)`);
    return;
  }
  out.add(unit, sample(name, type, value, labelsOf(point.attributes), nanosToMillis(point.timeUnixNano)));
}

function addHistogram(
  out: Conversion,
  unit: number,
  family: string,
  type: SampleType,
  point: HistogramPoint,
  labelsOf: LabelsOf,
): void {
  if (((point.flags ?? 0) & FLAG_NO_RECORDED_VALUE) !== 0) return;
  const bounds = point.explicitBounds ?? [];
  const counts = point.bucketCounts ?? [];
  if (counts.length !== 0 && counts.length !== bounds.length + 1) {
    out.reject(
      unit,
      `${family}: a histogram point needs one more bucket_counts (${counts.length}) ` +
        `than explicit_bounds (${bounds.length})`,
    );
    return;
  }
  const labels = labelsOf(point.attributes);
  const timestamp = nanosToMillis(point.timeUnixNano);
  const count = toNumber(point.count);
  const bucket = `${family}_bucket`;
  let running = 0;
  for (let i = 0; i < bounds.length && counts.length > 0; i++) {
    running += toNumber(counts[i]);
    out.add(unit, sample(bucket, type, running, { ...labels, le: formatBound(bounds[i]) }, timestamp));
  }
  out.add(unit, sample(bucket, type, count, { ...labels, le: '+Inf' }, timestamp));
  out.add(unit, sample(`${family}_count`, type, count, labels, timestamp));
  if (point.sum !== null && point.sum !== undefined)
    out.add(unit, sample(`${family}_sum`, type, point.sum, labels, timestamp));
}

function addSummary(out: Conversion, unit: number, family: string, point: SummaryPoint, labelsOf: LabelsOf): void {
  if (((point.flags ?? 0) & FLAG_NO_RECORDED_VALUE) !== 0) return;
  const labels = labelsOf(point.attributes);
  const timestamp = nanosToMillis(point.timeUnixNano);
  for (const q of point.quantileValues ?? []) {
    out.add(
      unit,
      sample(family, 'gauge', q.value ?? 0, { ...labels, quantile: formatBound(q.quantile ?? 0) }, timestamp),
    );
  }
  out.add(unit, sample(`${family}_count`, 'gauge', toNumber(point.count), labels, timestamp));
  out.add(unit, sample(`${family}_sum`, 'gauge', point.sum ?? 0, labels, timestamp));
}

/** A bucket bound or quantile as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, else the shortest decimal. */
export function formatBound(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
