import { describe, expect, it } from 'vitest';
import type { EventRow } from './events.ts';
import { buildTrace, MAX_TREE_DEPTH, type SpanNode } from './traces-tree.ts';

const T = 'a'.repeat(32);
const BASE_NS = 1_700_000_000_000_000_000n;

function span(
  id: string,
  parent: string | null,
  startMs: number,
  durationMs: number,
  extra: Partial<EventRow> = {},
): EventRow {
  const start = BASE_NS + BigInt(startMs) * 1_000_000n;
  return {
    id: `00000000-0000-7000-8000-${id.padStart(12, '0')}`,
    timestamp: new Date(Number(start / 1_000_000n)),
    event_type: 'trace',
    source: 'svc',
    level: 'info',
    message: `op ${id}`,
    tags: { trace_id: T, span_id: id, ...(parent ? { parent_span_id: parent } : {}), 'http.route': '/x' },
    payload: {
      kind: 'server',
      start_time_unix_nano: String(start),
      end_time_unix_nano: String(start + BigInt(durationMs) * 1_000_000n),
      duration_ms: durationMs,
      status: { code: 'unset', message: '' },
    },
    created_by: null,
    created_at: new Date(),
    ...extra,
  };
}

const ids = (nodes: SpanNode[]): unknown[] =>
  nodes.map((n) => (n.children.length ? [n.span_id, ids(n.children)] : n.span_id));

describe('trace tree', () => {
  it('nests spans under their parents in start order, with durations, span events and logs apart', () => {
    const rows = [
      span('3', '1', 30, 5),
      span('1', null, 0, 100),
      span('2', '1', 10, 20, { level: 'error', source: 'db' }),
      span('4', '2', 12, 3),
      span('9', 'missing', 50, 1),
      {
        ...span('e', null, 15, 0),
        event_type: 'log',
        message: 'exception',
        tags: { trace_id: T, span_id: '2', 'exception.type': 'E' },
        payload: { span_event: true },
      },
      {
        ...span('l', null, 40, 0),
        event_type: 'log',
        message: 'a log',
        tags: { trace_id: T, span_id: '3' },
        payload: {},
      },
    ] as EventRow[];
    const view = buildTrace(T, rows);
    expect(ids(view.spans)).toEqual([['1', [['2', ['4']], '3']], '9']);
    expect(view).toMatchObject({
      trace_id: T,
      span_count: 5,
      error_count: 1,
      services: ['db', 'svc'],
      duration_ms: 100,
    });
    expect(view.start_time).toBe(new Date(Number(BASE_NS / 1_000_000n)).toISOString());
    const child = view.spans[0].children[0];
    expect(child).toMatchObject({
      span_id: '2',
      parent_span_id: '1',
      service: 'db',
      duration_ms: 20,
      attributes: { 'http.route': '/x' },
    });
    expect(child.events).toEqual([
      { name: 'exception', timestamp: expect.any(String), attributes: { 'exception.type': 'E' } },
    ]);
    expect(view.logs.map((l) => l.message)).toEqual(['a log']);
  });

  it('never nests deeper than MAX_TREE_DEPTH, and survives a parent cycle', () => {
    const chain = Array.from({ length: MAX_TREE_DEPTH + 50 }, (_, i) =>
      span(String(i + 1), i === 0 ? null : String(i), i, 1),
    );
    const view = buildTrace(T, chain);
    let depth = 0;
    let level = view.spans;
    while (level.length > 0) {
      depth++;
      level = level.flatMap((n) => n.children);
    }
    expect(depth).toBe(MAX_TREE_DEPTH);
    expect(view.span_count).toBe(MAX_TREE_DEPTH + 50);

    const cycle = buildTrace(T, [span('1', '2', 0, 1), span('2', '1', 1, 1)]);
    expect(ids(cycle.spans)).toEqual([['2', ['1']]]); // one of them becomes the root
  });
});
