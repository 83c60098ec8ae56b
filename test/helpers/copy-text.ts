/**
 * PostgreSQL's COPY text format, as a conventional client sends it: the naive design of the writer benchmarks, and
 * the reference the writer's binary rows are checked against (services/writer/copy-format.int.test.ts).
 */
import type { EventRecord } from '../../shared/schemas/event.ts';
import { notableTags } from '../../services/writer/copy-format.ts';

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One row: fields joined by tabs, `\N` for null, backslash, tab, newline and carriage return escaped. */
export function copyTextRow(fields: readonly (string | null)[]): string {
  const escaped = fields.map((value) => (value === null ? '\\N' : value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c])));
  return `${escaped.join('\t')}\n`;
}

/** An event's values for the events columns from "timestamp" to created_by (EVENT_COLUMNS without id, notable_tags). */
export function eventValues(e: EventRecord): (string | null)[] {
  return [
    new Date(e.timestamp).toISOString(),
    e.event_type,
    e.source,
    e.level,
    e.message,
    e.tags,
    e.payload,
    e.created_by,
  ];
}

/** An event as a COPY text row in the writer's column order (EVENT_COLUMNS), with `id`. */
export function eventCopyText(e: EventRecord, id = e.id): string {
  return copyTextRow([id, ...eventValues(e), notableTags(e)]);
}
