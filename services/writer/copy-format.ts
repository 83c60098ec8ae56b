/**
 * PostgreSQL COPY text format for the writer's tables. Column order is the contract with the COPY statements
 * below and with infra/migrations/0001 — change all three together:
 *   events:  id, timestamp, event_type, source, level, message, tags, payload, created_by
 *   metrics: id, timestamp, name, metric_type, value, labels, created_by
 * Text fields escape backslash, tab, newline and carriage return; NULL is \N. NUL never reaches here (validation
 * refuses it, as PostgreSQL text cannot hold it).
 */
import type { EventRecord } from '../../shared/schemas/event.ts';
import type { MetricRecord } from '../../shared/schemas/metric.ts';

export const EVENT_COLUMNS = 'id, "timestamp", event_type, source, level, message, tags, payload, created_by';
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

export function formatEventRow(e: EventRecord): string {
  return `${e.id}\t${new Date(e.timestamp).toISOString()}\t${e.event_type}\t${escapeCopyText(e.source)}\t${nullable(e.level)}\t${nullable(e.message)}\t${escapeCopyText(e.tags)}\t${escapeCopyText(e.payload)}\t${nullable(e.created_by)}\n`;
}

export function formatMetricRow(m: MetricRecord): string {
  // String(number) is a valid float8 literal for every finite number (validation refuses NaN and ±Infinity).
  return `${m.id}\t${new Date(m.timestamp).toISOString()}\t${escapeCopyText(m.name)}\t${m.metric_type}\t${String(m.value)}\t${escapeCopyText(JSON.stringify(m.labels))}\t${nullable(m.created_by)}\n`;
}
