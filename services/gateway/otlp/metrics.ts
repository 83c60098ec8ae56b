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

interface Resource {
  attributes?: KeyValue[] | null;
}

interface Scope {
  name?: string;
  version?: string;
}

interface MetricsRequest {
  resourceMetrics?:
    | {
        resource?: Resource | null;
        scopeMetrics?: { scope?: Scope | null; metrics?: Metric[] | null }[] | null;
      }[]
    | null;
}

type SampleType = 'counter' | 'gauge';

/**
 * The labels of a resource and scope's points: the point's own attributes, sanitised, then the labels every point
 * of the resource and scope carries (they win over an attribute of the same name). The shared labels are worked
 * out once per scope; each point gets a fresh object (the validator and redactor may replace, never share, it).
 */
class PointLabels {
  private readonly names: string[] = [];
  private readonly values: string[] = [];

  constructor(
    resource: ResourceLabels,
    scope: Scope | null | undefined,
    private readonly maxDepth: number,
  ) {
    if (resource.job !== '') this.set('job', resource.job);
    if (resource.instance !== '') this.set('instance', resource.instance);
    if (scope?.name) this.set('otel_scope_name', scope.name);
    if (scope?.version) this.set('otel_scope_version', scope.version);
  }

  of(attributes: KeyValue[] | null | undefined): Record<string, string> {
    const labels = attributesToLabels(attributes, this.maxDepth);
    for (let i = 0; i < this.names.length; i++) labels[this.names[i]] = this.values[i];
    return labels;
  }

  private set(name: string, value: string): void {
    this.names.push(name);
    this.values.push(value);
  }
}

/** What a resource gives its points' labels: `job` (service.namespace/service.name), `instance`; '' when absent. */
interface ResourceLabels {
  job: string;
  instance: string;
}

function resourceLabels(resource: Resource | null | undefined): ResourceLabels {
  let name = '';
  let namespace = '';
  let instance = '';
  for (const kv of resource?.attributes ?? []) {
    if (kv.value?.value !== 'stringValue') continue;
    if (kv.key === 'service.name') name = kv.value.stringValue ?? '';
    else if (kv.key === 'service.namespace') namespace = kv.value.stringValue ?? '';
    else if (kv.key === 'service.instance.id') instance = kv.value.stringValue ?? '';
  }
  return { job: name === '' || namespace === '' ? name : `${namespace}/${name}`, instance };
}

export function metricsToSamples(request: unknown, limits: ConversionLimits): Conversion {
  const out = new Conversion(limits, ['resource_metrics', 'scope_metrics', 'data_points'], 'data points');
  const resources = (request as MetricsRequest).resourceMetrics ?? [];
  for (let r = 0; r < resources.length; r++) {
    const scopes = resources[r].scopeMetrics ?? [];
    const resource = resourceLabels(resources[r].resource);
    for (let s = 0; s < scopes.length; s++) {
      const labels = new PointLabels(resource, scopes[s].scope, limits.maxDepth);
      let index = 0;
      for (const metric of scopes[s].metrics ?? []) index = addMetric(out, metric, labels, r, s, index);
    }
  }
  return out;
}

const UNKNOWN_TEMPORALITY = ': aggregation_temporality must be DELTA (1) or CUMULATIVE (2)';

/** Adds the points of one metric; returns the index the scope's next point gets. */
function addMetric(out: Conversion, metric: Metric, labels: PointLabels, r: number, s: number, index: number): number {
  const name = metric.name ?? '';
  const unit = metric.unit ?? '';
  switch (metric.data) {
    case 'gauge': {
      const family = metricName(name, unit, 'gauge');
      for (const point of metric.gauge?.dataPoints ?? [])
        addNumber(out, out.unit(r, s, index++), family, 'gauge', point, labels);
      return index;
    }
    case 'sum': {
      const sum = metric.sum!;
      const temporality = sum.aggregationTemporality ?? 0;
      const monotonic = sum.isMonotonic === true;
      let refusal = '';
      if (temporality !== DELTA && temporality !== CUMULATIVE) refusal = `${name}${UNKNOWN_TEMPORALITY}`;
      else if (!monotonic && temporality === DELTA)
        refusal =
          `${name}: a non-monotonic sum with DELTA temporality has no Prometheus representation; ` +
          'export it as CUMULATIVE';
      const family = metricName(name, unit, monotonic ? 'counter' : 'other');
      const type = monotonic && temporality === DELTA ? 'counter' : 'gauge';
      for (const point of sum.dataPoints ?? []) {
        const unitIndex = out.unit(r, s, index++);
        if (refusal !== '') out.reject(unitIndex, refusal);
        else addNumber(out, unitIndex, family, type, point, labels);
      }
      return index;
    }
    case 'histogram': {
      const histogram = metric.histogram!;
      const temporality = histogram.aggregationTemporality ?? 0;
      const family = metricName(name, unit, 'other');
      const known = temporality === DELTA || temporality === CUMULATIVE;
      for (const point of histogram.dataPoints ?? []) {
        const unitIndex = out.unit(r, s, index++);
        if (!known) out.reject(unitIndex, `${name}${UNKNOWN_TEMPORALITY}`);
        else addHistogram(out, unitIndex, family, temporality === DELTA ? 'counter' : 'gauge', point, labels);
      }
      return index;
    }
    case 'summary': {
      const family = metricName(name, unit, 'other');
      for (const point of metric.summary?.dataPoints ?? [])
        addSummary(out, out.unit(r, s, index++), family, point, labels);
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
  labels: PointLabels,
): void {
  if (((point.flags ?? 0) & FLAG_NO_RECORDED_VALUE) !== 0) return;
  const value = pointValue(point);
  if (value === null) {
    out.reject(unit, `${name}: the data point has no value (as_double or as_int)`);
    return;
  }
  out.add(unit, sample(name, type, value, labels.of(point.attributes), nanosToMillis(point.timeUnixNano)));
}

/** as_double or as_int, or null for neither. */
function pointValue(point: NumberPoint): number | null {
  // A decoded point holds its oneof member as its own property: skip protobufjs' oneof getter when only one is.
  const double = Object.hasOwn(point, 'asDouble');
  if (double !== Object.hasOwn(point, 'asInt')) return double ? (point.asDouble ?? 0) : toNumber(point.asInt);
  if (point.value === 'asDouble') return point.asDouble ?? 0;
  if (point.value === 'asInt') return toNumber(point.asInt);
  return null;
}

function addHistogram(
  out: Conversion,
  unit: number,
  family: string,
  type: SampleType,
  point: HistogramPoint,
  pointLabels: PointLabels,
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
  const labels = pointLabels.of(point.attributes);
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

function addSummary(
  out: Conversion,
  unit: number,
  family: string,
  point: SummaryPoint,
  pointLabels: PointLabels,
): void {
  if (((point.flags ?? 0) & FLAG_NO_RECORDED_VALUE) !== 0) return;
  const labels = pointLabels.of(point.attributes);
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
