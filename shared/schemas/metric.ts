/**
 * A metric sample as the contract defines it (name, metric_type, value, labels, optional timestamp), validated the same
 * way for HTTP and direct Kafka input. Names and label names follow Prometheus' rules; a histogram or summary
 * sample is one observation (the exposition aggregates observations into buckets/quantiles).
 */
import crypto from 'node:crypto';
import { uuidv7 } from './uuid7.ts';
import { Checker, describe, isPlainObject, LONE_SURROGATE, UNPAIRED_SURROGATE, type TimeWindow } from './validate.ts';
import { timestampFromId, type Validated } from './event.ts';

const FINGERPRINT_HEX_CHARS = 16;

export const METRIC_TYPES = ['counter', 'gauge', 'histogram', 'summary'] as const;
export type MetricType = (typeof METRIC_TYPES)[number];

export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface MetricLimits {
  nameMaxLength: number;
  maxLabels: number;
  labelValueMaxLength: number;
}

export const DEFAULT_METRIC_LIMITS: MetricLimits = { nameMaxLength: 200, maxLabels: 32, labelValueMaxLength: 1024 };

export interface MetricRecord {
  id: string;
  name: string;
  metric_type: MetricType;
  value: number;
  labels: Record<string, string>;
  /** Epoch milliseconds. */
  timestamp: number;
  created_by: string | null;
  /** The producer chose the id (the writer stores it once within the idempotency window); false: generated. */
  id_given: boolean;
}

export interface MetricContext {
  window: TimeWindow;
  limits: MetricLimits;
  createdBy: string | null;
  index?: number;
}

const METRIC_FIELDS = new Set(['id', 'name', 'metric_type', 'value', 'labels', 'timestamp']);

export function validateMetric(input: unknown, ctx: MetricContext): Validated<MetricRecord> {
  const check = new Checker(ctx.index);
  if (!isPlainObject(input)) {
    check.fail(
      '(body)',
      `must be a JSON object with name, metric_type, value and optional labels, timestamp, id; got ${describe(input)}`,
    );
    return { ok: false, errors: check.errors };
  }
  const { limits } = ctx;
  check.unknownKeys(input, METRIC_FIELDS);
  const id = check.uuid('id', input.id);
  const name = check.string('name', input.name, { required: true, maxLength: limits.nameMaxLength });
  if (name !== null && !METRIC_NAME.test(name))
    check.fail('name', `must match the Prometheus metric name rule ${METRIC_NAME.source}`);
  const metricType = check.oneOf('metric_type', input.metric_type, METRIC_TYPES, true);
  let value: number | null = null;
  if (input.value === undefined || input.value === null) {
    check.fail('value', 'is required (a finite number)');
  } else if (typeof input.value !== 'number' || !Number.isFinite(input.value)) {
    check.fail('value', `must be a finite number, got ${describe(input.value)}`);
  } else {
    value = input.value;
    if (metricType === 'counter' && value < 0) check.fail('value', 'must not be negative for a counter');
  }
  const labels = checkLabels(check, input.labels, limits);
  const timestamp = check.timestamp('timestamp', input.timestamp, ctx.window);
  if (check.errors.length > 0) return { ok: false, errors: check.errors };
  return {
    ok: true,
    value: new ValidMetric(
      id ?? uuidv7(),
      name!,
      metricType!,
      value!,
      labels!,
      timestamp ?? timestampFromId(id, ctx.window) ?? ctx.window.now,
      ctx.createdBy,
      id !== null,
    ),
  };
}

/**
 * A validated sample, made by `new` rather than by an object literal, for the reason ValidEvent is
 * (shared/schemas/event.ts): the gateway's records live until Kafka acknowledges them, and V8 may then allocate a
 * literal's objects in the old generation for good. The same own properties, in the same order.
 */
class ValidMetric implements MetricRecord {
  constructor(
    readonly id: string,
    readonly name: string,
    readonly metric_type: MetricType,
    readonly value: number,
    readonly labels: Record<string, string>,
    readonly timestamp: number,
    readonly created_by: string | null,
    public id_given: boolean,
  ) {}
}

function checkLabels(check: Checker, value: unknown, limits: MetricLimits): Record<string, string> | null {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) {
    check.fail('labels', `must be an object of string values, got ${describe(value)}`);
    return null;
  }
  const entries = Object.entries(value);
  if (entries.length > limits.maxLabels) {
    check.fail('labels', `must have at most ${limits.maxLabels} labels, got ${entries.length}`);
    return null;
  }
  const labels: Record<string, string> = {};
  for (const [key, v] of entries) {
    const field = `labels.${key}`;
    if (!LABEL_NAME.test(key) || key.startsWith('__'))
      check.fail(field, `label name must match ${LABEL_NAME.source} and not start with __`);
    else if (typeof v !== 'string') check.fail(field, `must be a string, got ${describe(v)}`);
    else if (v.length > limits.labelValueMaxLength)
      check.fail(field, `must be at most ${limits.labelValueMaxLength} characters`);
    else if (v.includes('\u0000')) check.fail(field, 'must not contain the NUL character');
    else if (LONE_SURROGATE.test(v)) check.fail(field, UNPAIRED_SURROGATE);
    else labels[key] = v;
  }
  return labels;
}

/** The series identity: name plus sorted labels, hashed. Kafka key of metric records; alert state key. */
export function seriesFingerprint(name: string, labels: Record<string, string>): string {
  const canonical = [
    name,
    ...Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`),
  ].join('\u0000');
  return crypto.createHash('sha1').update(canonical).digest('hex').slice(0, FINGERPRINT_HEX_CHARS);
}

export function metricToJson(record: MetricRecord): Record<string, unknown> {
  return {
    id: record.id,
    name: record.name,
    metric_type: record.metric_type,
    value: record.value,
    labels: record.labels,
    timestamp: new Date(record.timestamp).toISOString(),
    created_by: record.created_by,
  };
}
