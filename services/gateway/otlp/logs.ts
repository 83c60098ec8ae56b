/**
 * OTLP log records → vigil events (docs/otlp.md has the table):
 *   event_type  log
 *   source      the resource's service.name
 *   timestamp   time_unix_nano, else observed_time_unix_nano, else the arrival time
 *   level       severity_number 1–4 trace, 5–8 debug, 9–12 info, 13–16 warn, 17–20 error, 21–24 fatal; when
 *               unspecified, severity_text if it names a level; else none
 *   message     a string (or scalar) body; a structured body (map, array, bytes) goes to payload.body instead
 *   tags        resource attributes (but service.name), then the record's attributes, then trace_id and span_id
 *               (hex), so `tag.trace_id=…` finds a trace's logs
 *   payload     body (structured bodies), severity_text, event_name, scope {name, version} when present
 */
import { Conversion, type ConversionLimits } from './conversion.ts';
import { resourceView } from './resource.ts';
import {
  anyValueToJson,
  attributesToJson,
  idToHex,
  SPAN_ID_BYTES,
  TRACE_ID_BYTES,
  nanosToMillis,
  type AnyValue,
  type Json,
  type KeyValue,
  type Nanos,
} from './values.ts';

/** OTLP severity numbers 1–24 come in six ranges of four (TRACE, DEBUG, INFO, WARN, ERROR, FATAL). */
const SEVERITY_NUMBERS_PER_LEVEL = 4;
const MAX_SEVERITY_NUMBER = 24;

interface LogRecord {
  timeUnixNano?: Nanos;
  observedTimeUnixNano?: Nanos;
  severityNumber?: number;
  severityText?: string;
  body?: AnyValue | null;
  attributes?: KeyValue[] | null;
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  eventName?: string;
}

interface LogsRequest {
  resourceLogs?:
    | {
        resource?: { attributes?: KeyValue[] | null } | null;
        scopeLogs?: { scope?: { name?: string; version?: string } | null; logRecords?: LogRecord[] | null }[] | null;
      }[]
    | null;
}

const LEVEL_BY_SEVERITY = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const LEVEL_BY_TEXT: Record<string, (typeof LEVEL_BY_SEVERITY)[number]> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  information: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  err: 'error',
  fatal: 'fatal',
  critical: 'fatal',
};

export function levelOf(severityNumber: number | undefined, severityText: string | undefined): string | null {
  if (severityNumber !== undefined && severityNumber >= 1 && severityNumber <= MAX_SEVERITY_NUMBER)
    return LEVEL_BY_SEVERITY[Math.floor((severityNumber - 1) / SEVERITY_NUMBERS_PER_LEVEL)];
  if (severityText) return LEVEL_BY_TEXT[severityText.toLowerCase()] ?? null;
  return null;
}

export function logsToEvents(request: unknown, limits: ConversionLimits): Conversion {
  const out = new Conversion(limits, ['resource_logs', 'scope_logs', 'log_records'], 'log records');
  const resources = (request as LogsRequest).resourceLogs ?? [];
  for (let r = 0; r < resources.length; r++) {
    const resourceLogs = resources[r];
    const resource = resourceView(resourceLogs.resource, limits.maxDepth);
    const scopes = resourceLogs.scopeLogs ?? [];
    for (let s = 0; s < scopes.length; s++) {
      const scope = scopes[s].scope;
      const records = scopes[s].logRecords ?? [];
      for (let i = 0; i < records.length; i++) {
        const unit = out.unit(r, s, i);
        const event = logEvent(records[i], resource.source, resource.tags, scope, limits.maxDepth);
        if (event instanceof Error) out.reject(unit, event.message);
        else out.add(unit, event);
      }
    }
  }
  return out;
}

function logEvent(
  record: LogRecord,
  source: string,
  resourceTags: Readonly<Record<string, Json>>,
  scope: { name?: string; version?: string } | null | undefined,
  maxDepth: number,
): Record<string, unknown> | Error {
  const traceId = idToHex(record.traceId, TRACE_ID_BYTES, 'trace_id');
  if (traceId instanceof Error) return traceId;
  const spanId = idToHex(record.spanId, SPAN_ID_BYTES, 'span_id');
  if (spanId instanceof Error) return spanId;

  const tags = attributesToJson(record.attributes, maxDepth, 1, { ...resourceTags });
  if (traceId !== '') tags.trace_id = traceId;
  if (spanId !== '') tags.span_id = spanId;

  const payload: Record<string, Json> = {};
  let message: string | null = null;
  const body = record.body;
  if (body && body.value !== undefined) {
    const value = anyValueToJson(body, maxDepth);
    if (body.value === 'kvlistValue' || body.value === 'arrayValue' || body.value === 'bytesValue')
      payload.body = value;
    else message = typeof value === 'string' ? value : JSON.stringify(value);
  }
  if (record.severityText) payload.severity_text = record.severityText;
  if (record.eventName) payload.event_name = record.eventName;
  if (scope?.name) payload.scope = scope.version ? { name: scope.name, version: scope.version } : { name: scope.name };

  const timestamp = nanosToMillis(record.timeUnixNano) ?? nanosToMillis(record.observedTimeUnixNano);
  const event: Record<string, unknown> = {
    event_type: 'log',
    source,
    message,
    level: levelOf(record.severityNumber, record.severityText),
    tags,
    payload,
  };
  if (timestamp !== null) event.timestamp = timestamp;
  return event;
}
