/**
 * A remote-write WriteRequest → the metric samples a JSON client would post to /api/v1/monitoring/metrics:
 *   __name__                 → name; every other label → labels (a label with an empty value is absent, as in
 *                              Prometheus)
 *   sample value, timestamp  → value, timestamp (epoch ms)
 *   id                       → derived from (series, timestamp): a UUID of version 8 from SHA-1, so a batch the
 *                              sender retries after a 503 is stored once (the writer's (timestamp, id) key)
 *   metric_type              → gauge, always: Prometheus sends levels and running totals, never increments.
 *                              Counters, histogram _bucket/_sum/_count and summary _sum/_count are running totals
 *                              ("cumulative"): stored as they come, as the OTLP adapter stores cumulative sums,
 *                              and refused when negative. Which series are cumulative: the request's metadata for
 *                              the family when it has some, else the name (_total, _bucket, _count, _sum).
 * Staleness markers (the NaN 0x7ff0000000000002) are skipped and counted; any other NaN or ±Inf is refused.
 * Series without __name__, with a repeated label name, or with native histograms are refused whole.
 */
import crypto from 'node:crypto';
import { VigilError, type FieldError } from '../../../shared/errors.ts';
import { isStaleMarker, METADATA_TYPES, type MetadataType, type WriteRequestMessage } from './proto.ts';

import { uuidV8FromHex } from '../../../shared/schemas/uuid7.ts';

export type SeriesKind = 'cumulative' | 'gauge';

export interface MappedSample {
  /** What the JSON path validates: the same fields a client would post. */
  item: {
    id: string;
    name: string;
    metric_type: 'gauge';
    value: number;
    labels: Record<string, string>;
    timestamp: number;
  };
  /** Where the sample was in the request, for errors: `timeseries[3].samples[1]`. */
  path: string;
}

export interface Mapping {
  samples: MappedSample[];
  /** Refused while mapping (the validator refuses more later). */
  errors: FieldError[];
  /** Samples refused while mapping (a refused series counts all its samples). */
  refused: number;
  staleMarkers: number;
  series: number;
  metadata: number;
}

export interface MappingLimits {
  /** Most series, and most samples, in one request (INGEST_MAX_BATCH_ITEMS) → 413. */
  maxItems: number;
}

const CUMULATIVE_SUFFIXES = ['_total', '_bucket', '_count', '_sum'];
const FAMILY_SUFFIXES = ['_bucket', '_count', '_sum', '_total', '_created', '_info'];

export function mapWriteRequest(request: WriteRequestMessage, limits: MappingLimits): Mapping {
  const { timeseries, metadata } = request;
  if (timeseries.length > limits.maxItems) {
    throw new VigilError(
      'VIGIL_ERR_PAYLOAD_TOO_LARGE',
      `the request has ${timeseries.length} series; ` +
        `at most ${limits.maxItems} are accepted (INGEST_MAX_BATCH_ITEMS): ` +
        "lower the sender's max_samples_per_send",
    );
  }
  let total = 0;
  for (const series of timeseries) total += series.samples.length;
  if (total > limits.maxItems) {
    throw new VigilError(
      'VIGIL_ERR_PAYLOAD_TOO_LARGE',
      `the request has ${total} samples; at most ${limits.maxItems} are accepted (INGEST_MAX_BATCH_ITEMS): ` +
        "lower the sender's max_samples_per_send",
    );
  }
  const families = familyTypes(metadata);
  const out: Mapping = {
    samples: [],
    errors: [],
    refused: 0,
    staleMarkers: 0,
    series: timeseries.length,
    metadata: metadata.length,
  };
  for (let i = 0; i < timeseries.length; i++) {
    const series = timeseries[i];
    const at = `timeseries[${i}]`;
    const labels: Record<string, string> = {};
    let name: string | null = null;
    let refusal: FieldError | null = null;
    for (const label of series.labels) {
      const key = label.name ?? '';
      const value = label.value ?? '';
      if (key === '__name__') {
        if (name !== null) refusal ??= { field: `${at}.labels`, message: 'has __name__ twice' };
        name = value;
      } else if (Object.hasOwn(labels, key)) {
        refusal ??= { field: `${at}.labels.${clip(key)}`, message: 'is given twice (label names must be unique)' };
      } else if (value !== '') labels[key] = value;
    }
    if (name === null || name === '')
      refusal ??= { field: `${at}.labels`, message: 'has no __name__ label (the metric name)' };
    if (series.histograms.length > 0) {
      refusal ??= {
        field: `${at}.histograms`,
        message: `native histograms are not supported (${series.histograms.length} sent); scrape classic histograms`,
      };
    }
    if (refusal !== null) {
      out.errors.push(refusal);
      out.refused += series.samples.length + series.histograms.length;
      continue;
    }
    const kind = seriesKind(name!, labels, families);
    const canonical = canonicalSeries(name!, labels);
    for (let j = 0; j < series.samples.length; j++) {
      const sample = series.samples[j];
      const value = sample.value ?? 0;
      if (isStaleMarker(value)) {
        out.staleMarkers++;
        continue;
      }
      const path = `${at}.samples[${j}]`;
      if (kind === 'cumulative' && value < 0) {
        out.errors.push({
          field: `${path}.value`,
          message:
            `must not be negative: ${clip(name!)} is a running total ` +
            `(a counter or a histogram/summary count or sum), got ${value}`,
        });
        out.refused++;
        continue;
      }
      const timestamp = toNumber(sample.timestamp);
      out.samples.push({
        item: { id: sampleId(canonical, timestamp), name: name!, metric_type: 'gauge', value, labels, timestamp },
        path,
      });
    }
  }
  return out;
}

/** Metric family → type, from the request's metadata (Prometheus 2.x sends it in requests of its own). */
function familyTypes(metadata: WriteRequestMessage['metadata']): Map<string, MetadataType> {
  const families = new Map<string, MetadataType>();
  for (const entry of metadata) {
    const type = METADATA_TYPES[entry.type ?? 0] ?? 'unknown';
    if (entry.metricFamilyName) families.set(entry.metricFamilyName, type);
  }
  return families;
}

/** Whether a series holds running totals: by its family's metadata when known, else by its name. */
export function seriesKind(
  name: string,
  labels: Record<string, string>,
  families: ReadonlyMap<string, MetadataType>,
): SeriesKind {
  const type = familyType(name, families);
  switch (type) {
    case 'counter':
      return 'cumulative';
    case 'histogram':
    case 'summary':
      // The quantiles of a summary are levels; its _sum and _count, and a histogram's _bucket, are running totals.
      return 'quantile' in labels && !hasSuffix(name, CUMULATIVE_SUFFIXES) ? 'gauge' : 'cumulative';
    case 'gauge':
    case 'gaugehistogram':
    case 'info':
    case 'stateset':
      return 'gauge';
    default:
      return hasSuffix(name, CUMULATIVE_SUFFIXES) ? 'cumulative' : 'gauge';
  }
}

function familyType(name: string, families: ReadonlyMap<string, MetadataType>): MetadataType | undefined {
  if (families.size === 0) return undefined;
  const exact = families.get(name);
  if (exact !== undefined && exact !== 'unknown') return exact;
  for (const suffix of FAMILY_SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const type = families.get(name.slice(0, -suffix.length));
    if (type !== undefined && type !== 'unknown') return type;
  }
  return undefined;
}

function hasSuffix(name: string, suffixes: string[]): boolean {
  for (const suffix of suffixes) if (name.endsWith(suffix)) return true;
  return false;
}

function canonicalSeries(name: string, labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  let canonical = name;
  for (const key of keys) canonical += `\u0000${key}=${labels[key]}`;
  return canonical;
}

/**
 * A sample's id from its series and timestamp (a UUID of version 8 from SHA-1): the same sample sent again — a
 * retried batch, or both replicas of an HA pair with the same labels — is stored once.
 */
export function sampleId(canonicalSeries: string, timestamp: number): string {
  return uuidV8FromHex(crypto.createHash('sha1').update(canonicalSeries).update(`\u0000${timestamp}`).digest('hex'));
}

export function seriesId(name: string, labels: Record<string, string>, timestamp: number): string {
  return sampleId(canonicalSeries(name, labels), timestamp);
}

function toNumber(value: number | { toNumber(): number } | undefined): number {
  if (value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
