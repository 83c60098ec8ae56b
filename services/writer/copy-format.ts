/**
 * PostgreSQL COPY text format for the writer's tables. Column order is the contract with the COPY statements
 * below and with infra/migrations/0001 — change all three together:
 *   events:  id, timestamp, event_type, source, level, message, tags, payload, created_by, notable_tags
 *   metrics: id, timestamp, name, metric_type, value, labels, created_by
 * notable_tags (migration 0011) repeats the tags of a notable event (warn and above, or an alert: the predicate of
 * the partial index events_notable_idx, which includes the column) when they are small enough for the index entry
 * to stay under PostgreSQL's btree limit whatever their content, and is NULL otherwise.
 * Text fields escape backslash, tab, newline and carriage return; NULL is \N. NUL never reaches here (validation
 * refuses it, as PostgreSQL text cannot hold it).
 */
import type { EventRecord } from '../../shared/schemas/event.ts';
import type { MetricRecord } from '../../shared/schemas/metric.ts';

import { MAX_UTF8_BYTES_PER_UTF16_UNIT, MS_PER_SECOND } from '../../shared/units.ts';

export const EVENT_COLUMNS =
  'id, "timestamp", event_type, source, level, message, tags, payload, created_by, notable_tags';
export const METRIC_COLUMNS = 'id, "timestamp", name, metric_type, value, labels, created_by';

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

export function escapeCopyText(value: string): string {
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c]) : value;
}

function nullable(value: string | null): string {
  return value === null ? '\\N' : escapeCopyText(value);
}

/**
 * Bytes of an events_notable_idx entry left for source and tags: the btree limit for 8 KB pages is 2704 bytes per
 * entry; the tuple header, timestamp, id, event_type and alignment take under 100.
 */
export const NOTABLE_ENTRY_BUDGET_BYTES = 2400;
/**
 * jsonb's binary form is at most ~6 times its compact JSON text (`[0,0,0]`: 2 characters → 12 bytes per element;
 * typical tags are about their text's size), so tags whose text is ≤ (budget − source) / 6 bytes always fit.
 */
const JSONB_BYTES_PER_TEXT_BYTE = 6;

export function isNotable(e: Pick<EventRecord, 'level' | 'event_type'>): boolean {
  return e.level === 'warn' || e.level === 'error' || e.level === 'fatal' || e.event_type === 'alert';
}

/** The tags copied into notable_tags, or null (not notable, or too large to include in the index). */
export function notableTags(e: EventRecord): string | null {
  if (!isNotable(e)) return null;
  // UTF-16 units × 3 bound the UTF-8 bytes: count bytes only when the quick bound does not already decide.
  const quick =
    MAX_UTF8_BYTES_PER_UTF16_UNIT * e.source.length +
    JSONB_BYTES_PER_TEXT_BYTE * MAX_UTF8_BYTES_PER_UTF16_UNIT * e.tags.length;
  if (quick <= NOTABLE_ENTRY_BUDGET_BYTES) return e.tags;
  const exact = Buffer.byteLength(e.source) + JSONB_BYTES_PER_TEXT_BYTE * Buffer.byteLength(e.tags);
  return exact <= NOTABLE_ENTRY_BUDGET_BYTES ? e.tags : null;
}

/** The ISO text of the last second formatted, up to its `.`: rows of a batch mostly share their second. */
let isoSecond = Number.NaN;
let isoPrefix = '';
const ISO_MS_DIGITS = 3;

/** `new Date(ms).toISOString()`, without a Date per row. */
export function isoTimestamp(ms: number): string {
  const second = Math.floor(ms / MS_PER_SECOND);
  if (second !== isoSecond) {
    const iso = new Date(second * MS_PER_SECOND).toISOString(); // …T12:34:56.000Z
    isoPrefix = iso.slice(0, iso.length - ISO_MS_DIGITS - 1);
    isoSecond = second;
  }
  return `${isoPrefix}${String(ms - second * MS_PER_SECOND).padStart(ISO_MS_DIGITS, '0')}Z`;
}

export function formatEventRow(e: EventRecord): string {
  const tags = escapeCopyText(e.tags);
  const notable = notableTags(e) === null ? '\\N' : tags;
  const when = isoTimestamp(e.timestamp);
  const source = escapeCopyText(e.source);
  const head = `${e.id}\t${when}\t${e.event_type}\t${source}\t${nullable(e.level)}\t${nullable(e.message)}`;
  return `${head}\t${tags}\t${escapeCopyText(e.payload)}\t${nullable(e.created_by)}\t${notable}\n`;
}

export function formatMetricRow(m: MetricRecord): string {
  // String(number) is a valid float8 literal for every finite number (validation refuses NaN and ±Infinity).
  return (
    `${m.id}\t${isoTimestamp(m.timestamp)}\t${escapeCopyText(m.name)}\t${m.metric_type}\t` +
    `${String(m.value)}\t${escapeCopyText(JSON.stringify(m.labels))}\t${nullable(m.created_by)}\n`
  );
}
