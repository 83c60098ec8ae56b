/**
 * Backtest (POST /api/v1/monitoring/alerts/preview): evaluates a rule — saved (`rule_id`) or not (`query` and the
 * other rule fields) — over the stored history in the metrics or events table, at every `step` from start_time to
 * end_time, with exactly the engine and state machine the alerter runs, and answers when it would have gone
 * pending, fired and resolved. Bounded: at most MAX_STEPS evaluations and MAX_ROWS stored rows (beyond → 400:
 * narrow the range or the selector); equality matchers on event fields are pushed into SQL.
 *
 * Body: { rule_id? | query, threshold_value?, for?, keep_firing_for?, start_time?, end_time?, step? }
 * Answer: { step, evaluations, rows_read, transitions: [{ labels, from, to, value, at }],
 *           alerts: [{ labels, active_at, fired_at, resolved_at }] }  (resolved_at null: still firing at end_time)
 */
import type { Pool } from '../../shared/db/pool.ts';
import { databaseError } from '../../shared/db/errors.ts';
import { VigilError, validationError } from '../../shared/errors.ts';
import type { MetricType } from '../../shared/schemas/metric.ts';
import { Checker, describe, isPlainObject } from '../../shared/schemas/validate.ts';
import { AlertEngine } from './engine/engine.ts';
import type { Transition } from './engine/state.ts';
import type { VectorSelector } from '../../shared/promql/expr.ts';
import { storedSourcesOf } from '../../shared/promql/series-model.ts';
import { EVENTS, type Labels } from '../../shared/promql/windows.ts';
import { formatDuration } from '../../shared/promql/duration.ts';
import { parseIsoTime } from '../../shared/schemas/primitives.ts';
import type { ParseOptions } from '../../shared/promql/compile.ts';
import { duration, ruleFields } from './rules/rule-input.ts';
import type { RuleStore } from './rules/rule-store.ts';
import type { EngineRule, RuleDefinition } from './rules/rule.ts';

import { MS_PER_HOUR, MS_PER_SECOND } from '../../shared/units.ts';

/** Without a step, the range is cut into about this many steps of whole seconds. */
const DEFAULT_STEPS = 1000;

export interface PreviewDeps {
  pool: Pool;
  parse: ParseOptions;
  rules: RuleStore;
  lookbackMs: number;
  now?: () => number;
}

export const MAX_STEPS = 11_000;
export const MAX_ROWS = 1_000_000;
/** 31 days. */
const MAX_SPAN_MS = 2_678_400_000;
const PREVIEW_FIELDS = ['rule_id', 'start_time', 'end_time', 'step'];

export async function runPreview(body: unknown, deps: PreviewDeps) {
  if (!isPlainObject(body))
    throw validationError([
      {
        field: '(body)',
        message: `must be a JSON object with rule_id or query, and start_time, end_time, step; got ${describe(body)}`,
      },
    ]);
  const check = new Checker();
  const now = deps.now?.() ?? Date.now();
  const end = time(check, 'end_time', body.end_time) ?? now;
  const start = time(check, 'start_time', body.start_time) ?? end - MS_PER_HOUR;
  if (end <= start) check.fail('end_time', 'must be after start_time');
  if (end - start > MAX_SPAN_MS) check.fail('start_time', `the range may span at most ${formatDuration(MAX_SPAN_MS)}`);
  const stepMs =
    body.step === undefined
      ? Math.max(MS_PER_SECOND, Math.ceil((end - start) / DEFAULT_STEPS / MS_PER_SECOND) * MS_PER_SECOND)
      : duration(check, 'step', body.step);
  if (stepMs === 0) check.fail('step', 'must be at least 1s');
  if (stepMs && (end - start) / stepMs > MAX_STEPS)
    check.fail('step', `gives more than ${MAX_STEPS} evaluations over the range: make it longer`);

  let definition: RuleDefinition | null = null;
  if (body.rule_id !== undefined) {
    const id = check.uuid('rule_id', body.rule_id);
    definition = id ? await deps.rules.get(id).catch((error) => Promise.reject(databaseError(error))) : null;
    if (id && !definition) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no alert rule ${id}`);
  }
  const ruleBody = Object.fromEntries(Object.entries(body).filter(([k]) => !PREVIEW_FIELDS.includes(k)));
  if (definition === null && ruleBody.name === undefined) ruleBody.name = 'preview';
  let compiledRule: EngineRule | null = null;
  try {
    const { fields, compiled } = ruleFields(ruleBody, definition, deps.parse);
    compiledRule = {
      ...(definition ?? {
        id: '00000000-0000-0000-0000-000000000000',
        createdBy: null,
        createdAt: new Date(now),
        updatedAt: new Date(now),
        revision: '0',
      }),
      ...fields,
      ...compiled,
    };
  } catch (error) {
    if (!(error instanceof VigilError)) throw error;
    for (const detail of error.details as object[]) check.errors.push(detail as never);
  }
  if (check.errors.length > 0 || !compiledRule || !stepMs) throw validationError(check.errors);
  const rule = compiledRule;

  const engine = new AlertEngine({ lookbackMs: deps.lookbackMs, isReady: () => true });
  engine.setRules([rule], start);
  const from = start - rule.rangeMs - deps.lookbackMs;
  let rows: number;
  try {
    const events = rule.selectors.filter((sel) => sel.name === EVENTS);
    rows = await loadMetrics(
      deps.pool,
      engine,
      rule.selectors.filter((sel) => sel.name !== EVENTS),
      from,
      end,
    );
    if (events.length > 0) rows += await loadEvents(deps.pool, engine, events, from, end, MAX_ROWS - rows);
  } catch (error) {
    throw error instanceof VigilError ? error : databaseError(error);
  }

  const transitions: Transition[] = [];
  let evaluations = 0;
  for (let t = start; t <= end; t += stepMs) {
    transitions.push(...engine.evaluateAll(t).transitions);
    evaluations++;
  }
  return {
    step: formatDuration(stepMs),
    evaluations,
    rows_read: rows,
    transitions: transitions.map((x) => ({
      labels: x.labels,
      from: x.from,
      to: x.to,
      value: x.value,
      at: new Date(x.at).toISOString(),
    })),
    alerts: periods(transitions),
  };
}

function time(check: Checker, field: string, value: unknown): number | null {
  if (value === undefined) return null;
  const ms = typeof value === 'string' ? parseIsoTime(value) : null;
  if (ms !== null) return ms;
  check.fail(field, `must be an ISO 8601 date-time with a zone, e.g. 2024-01-01T00:00:00Z, got ${describe(value)}`);
  return null;
}

const HISTORY: { topic: string; partition: number } = { topic: 'history', partition: 0 };

/** Every stored row the metric selectors read, once each, in time order (running totals build forwards). */
async function loadMetrics(
  pool: Pool,
  engine: AlertEngine,
  selectors: VectorSelector[],
  from: number,
  end: number,
): Promise<number> {
  const stored = new Map<string, { types: Set<string>; readers: VectorSelector[] }>();
  for (const selector of selectors) {
    for (const source of storedSourcesOf(selector.name!)) {
      let entry = stored.get(source.stored);
      if (!entry) stored.set(source.stored, (entry = { types: new Set(), readers: [] }));
      for (const type of source.types) entry.types.add(type);
      entry.readers.push(selector);
    }
  }
  let read = 0;
  for (const [name, { types, readers }] of stored) {
    const exact = commonEquals(readers, (label) => label !== '__name__' && label !== 'le');
    const { rows } = await pool.query<{ t: number; labels: Labels; value: number; metric_type: MetricType }>(
      `SELECT (extract(epoch FROM "timestamp") * 1000)::float8 AS t, labels, value, metric_type FROM metrics
        WHERE name = $1 AND metric_type = ANY($2::text[]) AND "timestamp" > $3 AND "timestamp" <= $4
          AND labels @> $5::jsonb
        ORDER BY "timestamp" LIMIT $6`,
      [name, [...types], new Date(from), new Date(end), JSON.stringify(exact), MAX_ROWS - read + 1],
    );
    read += rows.length;
    tooMany(read);
    for (const row of rows) engine.ingestMetric(name, row.labels, row.t, row.value, HISTORY, false, row.metric_type);
  }
  return read;
}

async function loadEvents(
  pool: Pool,
  engine: AlertEngine,
  selectors: VectorSelector[],
  from: number,
  end: number,
  budget: number,
): Promise<number> {
  const where = ['"timestamp" > $1', '"timestamp" <= $2'];
  const values: unknown[] = [new Date(from), new Date(end)];
  for (const [label, value] of Object.entries(commonEquals(selectors, (label) => EVENT_COLUMNS.includes(label)))) {
    values.push(value);
    where.push(`${label} = $${values.length}`);
  }
  values.push(budget + 1);
  const { rows } = await pool.query<{
    t: number;
    event_type: string;
    source: string;
    level: string | null;
    tags: Record<string, unknown>;
  }>(
    `SELECT (extract(epoch FROM "timestamp") * 1000)::float8 AS t, event_type, source, level, tags FROM events WHERE ` +
      `${where.join(' AND ')} LIMIT $${values.length}`,
    values,
  );
  tooMany(rows.length + MAX_ROWS - budget);
  for (const { t, ...row } of rows) engine.ingestEvent({ ...row, timestamp: t }, HISTORY, false);
  return rows.length;
}

const EVENT_COLUMNS = ['event_type', 'source', 'level'];

/** The `label = "value"` matchers every selector has (so a row is read once, whichever selectors want it). */
function commonEquals(selectors: VectorSelector[], pushable: (label: string) => boolean): Record<string, string> {
  const equals = (selector: VectorSelector) => {
    const pushed = selector.matchers.filter((m) => m.op === '=' && m.value !== '' && pushable(m.label));
    return new Map(pushed.map((m) => [m.label, m.value]));
  };
  const [first, ...others] = selectors.map(equals);
  const out: Record<string, string> = {};
  for (const [label, value] of first ?? []) if (others.every((o) => o.get(label) === value)) out[label] = value;
  return out;
}

function tooMany(rows: number): void {
  if (rows > MAX_ROWS)
    throw validationError([
      {
        field: 'start_time',
        message: `the rule reads more than ${MAX_ROWS} stored rows over this range: narrow the range or the selector`,
      },
    ]);
}

/** Pairs each instance's firing with its resolution. */
function periods(transitions: Transition[]) {
  const open = new Map<
    string,
    { labels: Record<string, string>; active_at: string; fired_at: string; resolved_at: string | null }
  >();
  const out: { labels: Record<string, string>; active_at: string; fired_at: string; resolved_at: string | null }[] = [];
  for (const t of transitions) {
    if (t.to === 'firing') {
      const period = {
        labels: t.labels,
        active_at: new Date(t.activeAt).toISOString(),
        fired_at: new Date(t.at).toISOString(),
        resolved_at: null,
      };
      open.set(t.fingerprint, period);
      out.push(period);
    } else if (t.to === 'resolved') {
      const period = open.get(t.fingerprint);
      if (period) period.resolved_at = new Date(t.at).toISOString();
      open.delete(t.fingerprint);
    }
  }
  return out;
}
