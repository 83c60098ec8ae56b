/**
 * Request bodies of the rule routes. Create takes the contract's fields (name, description, query, threshold_value)
 * plus for, keep_firing_for, severity, labels, annotations, enabled; update (PUT) takes any of them and keeps the
 * rest. Every problem is reported at once; a query that does not parse is reported with its position:
 *   { "field": "query", "message": "...", "position": 12, "line": 1, "column": 13,
 *     "excerpt": "cpu_usage > \n            ^" }
 */
import { validationError, type FieldError } from '../../../shared/errors.ts';
import { LABEL_NAME } from '../../../shared/schemas/metric.ts';
import { Checker, describe, isPlainObject } from '../../../shared/schemas/validate.ts';
import {
  compileQuery,
  ThresholdMismatchError,
  type CompiledQuery,
  type ParseOptions,
} from '../../../shared/promql/compile.ts';
import { parseDuration } from '../../../shared/promql/duration.ts';
import { RuleSyntaxError } from '../../../shared/promql/lexer.ts';
import type { RuleFields } from './rule-store.ts';
import { SEVERITIES, type RuleDefinition } from './rule.ts';

import { DAYS_PER_WEEK, MS_PER_DAY, MS_PER_SECOND } from '../../../shared/units.ts';

const FIELDS = new Set([
  'name',
  'description',
  'query',
  'threshold_value',
  'for',
  'keep_firing_for',
  'severity',
  'labels',
  'annotations',
  'enabled',
]);
const MAX_DURATION_MS = DAYS_PER_WEEK * MS_PER_DAY;
const MAX_ENTRIES = 32;
const MAX_TEXT = 2000;

/** Validates a create body (`base` null) or an update body over the stored rule; throws a 400 listing every problem. */
export function ruleFields(
  body: unknown,
  base: RuleDefinition | null,
  opts: ParseOptions,
): { fields: RuleFields; compiled: CompiledQuery } {
  const check = new Checker();
  if (!isPlainObject(body)) {
    throw validationError([
      {
        field: '(body)',
        message:
          `must be a JSON object with name, query and optional description, threshold_value, for, ` +
          `keep_firing_for, severity, labels, annotations, enabled; got ${describe(body)}`,
      },
    ]);
  }
  check.unknownKeys(body, FIELDS);
  const has = (key: string) => Object.hasOwn(body, key) || base === null;
  const fields: RuleFields = base
    ? {
        name: base.name,
        description: base.description,
        query: base.query,
        threshold_value: base.threshold_value,
        forMs: base.forMs,
        keepFiringForMs: base.keepFiringForMs,
        severity: base.severity,
        labels: base.labels,
        annotations: base.annotations,
        enabled: base.enabled,
      }
    : {
        name: '',
        description: null,
        query: '',
        threshold_value: null,
        forMs: 0,
        keepFiringForMs: 0,
        severity: 'medium',
        labels: {},
        annotations: {},
        enabled: true,
      };

  if (has('name')) fields.name = check.string('name', body.name, { required: true, maxLength: 200 }) ?? '';
  if (has('description'))
    fields.description = check.string('description', body.description, { required: false, maxLength: MAX_TEXT });
  if (has('query')) fields.query = check.string('query', body.query, { required: true, maxLength: 4000 }) ?? '';
  if (Object.hasOwn(body, 'threshold_value')) {
    const value = body.threshold_value;
    if (value === null) fields.threshold_value = null;
    else if (typeof value === 'number' && Number.isFinite(value)) fields.threshold_value = value;
    else check.fail('threshold_value', `must be a finite number or null, got ${describe(value)}`);
  }
  if (Object.hasOwn(body, 'for')) fields.forMs = duration(check, 'for', body.for) ?? 0;
  if (Object.hasOwn(body, 'keep_firing_for'))
    fields.keepFiringForMs = duration(check, 'keep_firing_for', body.keep_firing_for) ?? 0;
  if (Object.hasOwn(body, 'severity'))
    fields.severity = check.oneOf('severity', body.severity, SEVERITIES, true) ?? 'medium';
  if (Object.hasOwn(body, 'labels')) fields.labels = stringMap(check, 'labels', body.labels, true);
  if (Object.hasOwn(body, 'annotations')) fields.annotations = stringMap(check, 'annotations', body.annotations, false);
  if (Object.hasOwn(body, 'enabled')) {
    if (typeof body.enabled === 'boolean') fields.enabled = body.enabled;
    else check.fail('enabled', `must be true or false, got ${describe(body.enabled)}`);
  }

  let compiled: CompiledQuery | null = null;
  if (fields.query !== '') {
    try {
      compiled = compileQuery({ query: fields.query, threshold_value: fields.threshold_value }, opts);
    } catch (error) {
      if (error instanceof RuleSyntaxError) {
        const detail: FieldError & Record<string, unknown> = {
          field: 'query',
          message: error.message,
          position: error.position,
          line: error.line,
          column: error.column,
          excerpt: error.excerpt,
        };
        check.errors.push(detail);
      } else if (error instanceof ThresholdMismatchError) check.fail('threshold_value', error.message);
      else throw error;
    }
  }
  if (check.errors.length > 0 || compiled === null) throw validationError(check.errors);
  return { fields, compiled };
}

/** A duration as PromQL writes it (`5m`) or a number of seconds; whole seconds, at most a week. */
export function duration(check: Checker, field: string, value: unknown): number | null {
  let ms: number | null = null;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) ms = value * MS_PER_SECOND;
  else if (typeof value === 'string') ms = parseDuration(value);
  if (ms === null || ms % MS_PER_SECOND !== 0 || ms > MAX_DURATION_MS) {
    check.fail(
      field,
      `must be a duration in whole seconds up to 1w, like "30s", "5m", "1h30m", or a number of seconds; got ` +
        `${describe(value)}`,
    );
    return null;
  }
  return ms;
}

function stringMap(check: Checker, field: string, value: unknown, labelNames: boolean): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) {
    check.fail(field, `must be an object of strings, got ${describe(value)}`);
    return {};
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_ENTRIES)
    check.fail(field, `must have at most ${MAX_ENTRIES} entries, got ${entries.length}`);
  const out: Record<string, string> = {};
  for (const [key, v] of entries.slice(0, MAX_ENTRIES)) {
    if (labelNames && (!LABEL_NAME.test(key) || key.startsWith('__')))
      check.fail(`${field}.${key.slice(0, 60)}`, `label name must match ${LABEL_NAME.source} and not start with __`);
    else if (typeof v !== 'string' || v.length > MAX_TEXT || v.includes('\u0000'))
      check.fail(
        `${field}.${key.slice(0, 60)}`,
        `must be a string of at most ${MAX_TEXT} characters, got ${describe(v)}`,
      );
    else out[key] = v;
  }
  return out;
}
