/**
 * OTLP spans → vigil events (docs/otlp.md has the table). A span is one `trace` event:
 *   source      the resource's service.name
 *   message     the span's name
 *   level       error when the span's status is ERROR, else info
 *   timestamp   start_time_unix_nano
 *   tags        resource attributes (but service.name), the span's attributes, then trace_id, span_id and (unless a
 *               root) parent_span_id, hex: the trace read-back finds a trace's rows by tags.trace_id
 *   payload     kind, start/end (decimal nanoseconds), duration_ms, status {code, message}, scope, trace_state,
 *               links
 * Each span event becomes a `log` event of the same source at its own time, linked to the span by the same
 * trace_id/span_id tags (an `exception` event at level error), so it shows among the trace's logs.
 * A span without a valid trace_id (16 bytes) or span_id (8 bytes), or with a malformed parent, is rejected.
 * Ids are derived from trace_id and span_id (spanItemId), so a span exported twice is stored once.
 */
import crypto from 'node:crypto';
import { Conversion, type ConversionLimits } from './conversion.ts';
import { resourceView } from './resource.ts';
import {
  attributesToJson,
  idToHex,
  SPAN_ID_BYTES,
  TRACE_ID_BYTES,
  nanosBetween,
  nanosToMillis,
  nanosToString,
  type Json,
  type KeyValue,
  type Nanos,
} from './values.ts';

import { uuidV8FromHex } from '../../../shared/schemas/uuid7.ts';
import { NS_PER_MS } from '../../../shared/units.ts';

const SPAN_KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_CODES = ['unset', 'ok', 'error'];
const STATUS_ERROR = 2;

interface SpanEvent {
  timeUnixNano?: Nanos;
  name?: string;
  attributes?: KeyValue[] | null;
}

interface SpanLink {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  traceState?: string;
  attributes?: KeyValue[] | null;
}

interface Span {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  traceState?: string;
  parentSpanId?: Uint8Array;
  name?: string;
  kind?: number;
  startTimeUnixNano?: Nanos;
  endTimeUnixNano?: Nanos;
  attributes?: KeyValue[] | null;
  events?: SpanEvent[] | null;
  links?: SpanLink[] | null;
  status?: { message?: string; code?: number } | null;
}

interface TracesRequest {
  resourceSpans?:
    | {
        resource?: { attributes?: KeyValue[] | null } | null;
        scopeSpans?: { scope?: { name?: string; version?: string } | null; spans?: Span[] | null }[] | null;
      }[]
    | null;
}

export function tracesToEvents(request: unknown, limits: ConversionLimits): Conversion {
  const out = new Conversion(limits, ['resource_spans', 'scope_spans', 'spans'], 'spans');
  const resources = (request as TracesRequest).resourceSpans ?? [];
  for (let r = 0; r < resources.length; r++) {
    const resource = resourceView(resources[r].resource, limits.maxDepth);
    const scopes = resources[r].scopeSpans ?? [];
    for (let s = 0; s < scopes.length; s++) {
      const scope = scopes[s].scope;
      const spans = scopes[s].spans ?? [];
      for (let i = 0; i < spans.length; i++) {
        const unit = out.unit(r, s, i);
        const problem = addSpan(out, unit, spans[i], resource.source, resource.tags, scope, limits.maxDepth);
        if (problem) out.reject(unit, problem.message);
      }
    }
  }
  return out;
}

function addSpan(
  out: Conversion,
  unit: number,
  span: Span,
  source: string,
  resourceTags: Readonly<Record<string, Json>>,
  scope: { name?: string; version?: string } | null | undefined,
  maxDepth: number,
): Error | null {
  const traceId = idToHex(span.traceId, TRACE_ID_BYTES, 'trace_id');
  if (traceId instanceof Error) return traceId;
  if (traceId === '') return new Error('trace_id is required (16 bytes)');
  const spanId = idToHex(span.spanId, SPAN_ID_BYTES, 'span_id');
  if (spanId instanceof Error) return spanId;
  if (spanId === '') return new Error('span_id is required (8 bytes)');
  const parentSpanId = idToHex(span.parentSpanId, SPAN_ID_BYTES, 'parent_span_id');
  if (parentSpanId instanceof Error) return parentSpanId;

  const tags = attributesToJson(span.attributes, maxDepth, 1, { ...resourceTags });
  tags.trace_id = traceId;
  tags.span_id = spanId;
  if (parentSpanId !== '') tags.parent_span_id = parentSpanId;

  const statusCode = span.status?.code ?? 0;
  const payload: Record<string, Json> = {
    kind: SPAN_KINDS[span.kind ?? 0] ?? 'unspecified',
    start_time_unix_nano: nanosToString(span.startTimeUnixNano),
    end_time_unix_nano: nanosToString(span.endTimeUnixNano),
    duration_ms: nanosBetween(span.startTimeUnixNano, span.endTimeUnixNano) / NS_PER_MS,
    status: { code: STATUS_CODES[statusCode] ?? 'unset', message: span.status?.message ?? '' },
  };
  if (scope?.name) payload.scope = scope.version ? { name: scope.name, version: scope.version } : { name: scope.name };
  if (span.traceState) payload.trace_state = span.traceState;
  if (span.links && span.links.length > 0) {
    const links: Json[] = [];
    for (const link of span.links) {
      const linkTrace = idToHex(link.traceId, TRACE_ID_BYTES, 'links.trace_id');
      const linkSpan = idToHex(link.spanId, SPAN_ID_BYTES, 'links.span_id');
      if (linkTrace instanceof Error) return linkTrace;
      if (linkSpan instanceof Error) return linkSpan;
      links.push({
        trace_id: linkTrace,
        span_id: linkSpan,
        attributes: attributesToJson(link.attributes, maxDepth, 2),
      });
    }
    payload.links = links;
  }

  const start = nanosToMillis(span.startTimeUnixNano);
  const event: Record<string, unknown> = {
    id: spanItemId(traceId, spanId, 0),
    event_type: 'trace',
    source,
    message: span.name ?? '',
    level: statusCode === STATUS_ERROR ? 'error' : 'info',
    tags,
    payload,
  };
  if (start !== null) event.timestamp = start;
  out.add(unit, event);

  let n = 0;
  for (const spanEvent of span.events ?? []) {
    const eventTags = attributesToJson(spanEvent.attributes, maxDepth, 1, { ...resourceTags });
    eventTags.trace_id = traceId;
    eventTags.span_id = spanId;
    const at = nanosToMillis(spanEvent.timeUnixNano) ?? start;
    const log: Record<string, unknown> = {
      id: spanItemId(traceId, spanId, ++n),
      event_type: 'log',
      source,
      message: spanEvent.name ?? '',
      level: spanEvent.name === 'exception' ? 'error' : 'info',
      tags: eventTags,
      payload: { span_event: true, span_name: span.name ?? '' },
    };
    if (at !== null) log.timestamp = at;
    out.add(unit, log);
  }
  return null;
}

/**
 * A span's (n = 0) or its n-th event's id, derived from the trace and span ids (a UUID of version 8, from SHA-1):
 * an SDK that retries an export after a 503 sends the same span with the same start, so it is stored once — the
 * (timestamp, id) key de-duplicates it as it does a client's resent id.
 */
export function spanItemId(traceId: string, spanId: string, n: number): string {
  return uuidV8FromHex(crypto.createHash('sha1').update(`${traceId}${spanId}${n}`).digest('hex'));
}
