/**
 * One trace's stored rows as the API answers them: spans (`trace` events) nested under their parents with their
 * durations, span events under their span, and the other rows carrying the trace id as the trace's logs.
 * Spans whose parent is not among the rows (not sent, or outside retention) are roots too. Nesting stops at
 * MAX_TREE_DEPTH: deeper spans hang under their ancestor at that depth, so the answer is never deeper than that.
 */
import { eventToJson, type EventRow } from './events.ts';

import { NS_PER_MS, NS_PER_MS_BIGINT } from '../../shared/units.ts';

export const MAX_TREE_DEPTH = 100;

export interface SpanNode {
  span_id: string;
  parent_span_id: string | null;
  name: string | null;
  service: string;
  kind: string | null;
  start_time: string;
  end_time: string | null;
  duration_ms: number | null;
  status: { code: string; message: string } | null;
  attributes: Record<string, unknown>;
  events: { name: string | null; timestamp: string; attributes: Record<string, unknown> }[];
  children: SpanNode[];
}

export interface TraceView {
  trace_id: string;
  start_time: string | null;
  end_time: string | null;
  duration_ms: number | null;
  span_count: number;
  error_count: number;
  services: string[];
  spans: SpanNode[];
  logs: ReturnType<typeof eventToJson>[];
}

const ID_TAGS = new Set(['trace_id', 'span_id', 'parent_span_id']);

type Row = EventRow;

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function attributesOf(tags: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(tags)) if (!ID_TAGS.has(key)) out[key] = tags[key];
  return out;
}

/** Nanoseconds since the epoch from the payload's decimal text, else the row's millisecond timestamp. */
function nanos(text: unknown, fallbackMs: number): bigint {
  if (typeof text === 'string' && /^\d{1,20}$/.test(text) && text !== '0') return BigInt(text);
  return BigInt(fallbackMs) * NS_PER_MS_BIGINT;
}

function isoFromNanos(ns: bigint): string {
  return new Date(Number(ns / NS_PER_MS_BIGINT)).toISOString();
}

export function buildTrace(traceId: string, rows: Row[]): TraceView {
  const spans = new Map<string, SpanNode>();
  const order: SpanNode[] = [];
  const starts = new Map<SpanNode, bigint>();
  const spanEvents: Row[] = [];
  const logs: Row[] = [];
  let first: bigint | null = null;
  let last: bigint | null = null;
  let errors = 0;
  const services = new Set<string>();

  for (const row of rows) {
    const tags = record(row.tags);
    const payload = record(row.payload);
    if (row.event_type !== 'trace') {
      if (payload.span_event === true && typeof tags.span_id === 'string') spanEvents.push(row);
      else logs.push(row);
      continue;
    }
    const spanId = typeof tags.span_id === 'string' ? tags.span_id : null;
    if (spanId === null || spans.has(spanId)) {
      logs.push(row);
      continue;
    }
    const start = nanos(payload.start_time_unix_nano, row.timestamp.getTime());
    const end =
      typeof payload.end_time_unix_nano === 'string' && payload.end_time_unix_nano !== '0'
        ? nanos(payload.end_time_unix_nano, 0)
        : null;
    const status = record(payload.status);
    const node: SpanNode = {
      span_id: spanId,
      parent_span_id: typeof tags.parent_span_id === 'string' ? tags.parent_span_id : null,
      name: row.message,
      service: row.source,
      kind: typeof payload.kind === 'string' ? payload.kind : null,
      start_time: isoFromNanos(start),
      end_time: end === null ? null : isoFromNanos(end),
      duration_ms: typeof payload.duration_ms === 'number' ? payload.duration_ms : null,
      status:
        typeof status.code === 'string'
          ? { code: status.code, message: typeof status.message === 'string' ? status.message : '' }
          : null,
      attributes: attributesOf(tags),
      events: [],
      children: [],
    };
    spans.set(spanId, node);
    order.push(node);
    starts.set(node, start);
    services.add(row.source);
    if (row.level === 'error' || row.level === 'fatal') errors++;
    if (first === null || start < first) first = start;
    const finish = end ?? start;
    if (last === null || finish > last) last = finish;
  }

  for (const row of spanEvents) {
    const tags = record(row.tags);
    const span = spans.get(tags.span_id as string);
    if (!span) {
      logs.push(row);
      continue;
    }
    span.events.push({ name: row.message, timestamp: row.timestamp.toISOString(), attributes: attributesOf(tags) });
  }

  const byStart = (a: SpanNode, b: SpanNode) => {
    const x = starts.get(a)!;
    const y = starts.get(b)!;
    return x < y ? -1 : x > y ? 1 : 0;
  };
  order.sort(byStart);
  const roots = nest(order, spans);
  return {
    trace_id: traceId,
    start_time: first === null ? null : isoFromNanos(first),
    end_time: last === null ? null : isoFromNanos(last),
    duration_ms: first === null || last === null ? null : Number(last - first) / NS_PER_MS,
    span_count: order.length,
    error_count: errors,
    services: [...services].sort(),
    spans: roots,
    logs: logs.map((row) => eventToJson(row)),
  };
}

/** Attaches every span (in start order) under its parent; returns the roots. Iterative, depth-capped. */
function nest(order: SpanNode[], spans: Map<string, SpanNode>): SpanNode[] {
  const roots: SpanNode[] = [];
  const depth = new Map<SpanNode, number>();
  const parentOf = (node: SpanNode): SpanNode | null => {
    if (node.parent_span_id === null) return null;
    const parent = spans.get(node.parent_span_id);
    return parent && parent !== node ? parent : null;
  };
  const depthOf = (node: SpanNode): number => {
    // Walk up to a node of known depth (or a root), then assign depths on the way back; a cycle counts as a root.
    const path: SpanNode[] = [];
    const onPath = new Set<SpanNode>();
    let current: SpanNode | null = node;
    while (current !== null && !depth.has(current) && !onPath.has(current)) {
      path.push(current);
      onPath.add(current);
      current = parentOf(current);
    }
    let d = current !== null && depth.has(current) ? depth.get(current)! : 0;
    for (let i = path.length - 1; i >= 0; i--) {
      d = i === path.length - 1 && (current === null || onPath.has(current)) ? 1 : d + 1;
      depth.set(path[i], d);
    }
    return depth.get(node)!;
  };
  for (const node of order) {
    const d = depthOf(node);
    let parent = d > 1 ? parentOf(node) : null;
    // Beyond the cap: hang under the ancestor at depth MAX_TREE_DEPTH.
    while (parent !== null && depth.get(parent)! >= MAX_TREE_DEPTH) parent = parentOf(parent);
    if (parent === null) roots.push(node);
    else parent.children.push(node);
  }
  return roots;
}
