/**
 * The plans of the trace statements (exactly what the routes run) on three days of analysed data in daily
 * partitions, most rows without a trace id: a trace's rows come from the partial trace-id index of each partition,
 * the listing from the root-span index, never a sequential scan of a partition holding data. The rows answered are
 * checked too (the end-to-end test in test/otlp.test.ts covers the HTTP answers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAllPartitions, partitionName } from '../../shared/db/partitions.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { listTracesSql, traceRowsSql } from './traces.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const DAY = 86_400_000;

describe('trace statements', () => {
  let ctx: TestContext;
  const today = Math.floor(Date.now() / DAY) * DAY;
  const start = today - 2 * DAY;

  const explain = async (sql: string, values: unknown[]) => {
    const { rows } = await ctx.db.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`, values);
    const indexes = new Set<string>();
    const seqScans: string[] = [];
    const walk = (node: PlanNode) => {
      if (node['Index Name']) indexes.add(node['Index Name']);
      const empty = node['Relation Name'] === partitionName('events', today + DAY, 'day');
      if (node['Node Type'] === 'Seq Scan' && node['Relation Name'] && !empty) seqScans.push(node['Relation Name']);
      node.Plans?.forEach(walk);
    };
    walk(rows[0]['QUERY PLAN'][0].Plan);
    return { indexes: [...indexes].sort(), seqScans };
  };

  beforeAll(async () => {
    ctx = await createTestContext();
    await ensureAllPartitions(ctx.db, 'day', start, today + DAY);
    // 3 days of plain events (one every 2 s), and 500 traces of 4 spans (1 root) and a log each.
    await ctx.db.query(
      `INSERT INTO events (id, "timestamp", event_type, source, level, message, tags, payload)
       SELECT gen_random_uuid(), $1::timestamptz + i * interval '2 seconds', 'log', 'src-' || (i % 50), 'info',
              'message ' || i, jsonb_build_object('service', 'svc-' || (i % 7)), '{}'
         FROM generate_series(0, 3 * 43200 - 1) AS i`,
      [new Date(start)],
    );
    await ctx.db.query(
      `INSERT INTO events (id, "timestamp", event_type, source, level, message, tags, payload)
       SELECT gen_random_uuid(), $1::timestamptz + t * interval '8 minutes' + s * interval '10 milliseconds',
              CASE WHEN s = 4 THEN 'log' ELSE 'trace' END, 'svc-' || (t % 3),
              CASE WHEN t % 10 = 0 AND s = 2 THEN 'error' ELSE 'info' END,
              'op ' || s,
              jsonb_build_object('trace_id', lpad(to_hex(t), 32, '0'), 'span_id', lpad(to_hex(t * 8 + s), 16, '0'))
                || CASE WHEN s IN (1, 2, 3) THEN jsonb_build_object('parent_span_id', lpad(to_hex(t * 8), 16, '0'))
                        ELSE '{}' END,
              CASE WHEN s = 4 THEN '{}'::jsonb ELSE jsonb_build_object('duration_ms', 100 - s * 10 + t % 7) END
         FROM generate_series(1, 500) AS t, generate_series(0, 4) AS s`,
      [new Date(start)],
    );
    await ctx.db.query('ANALYZE events');
  });
  afterAll(() => ctx?.cleanup());

  const traceId = (t: number) => t.toString(16).padStart(32, '0');

  it('one trace: the partial trace-id index of every partition, in time order', async () => {
    const { sql, values } = traceRowsSql(traceId(42), {});
    const plan = await explain(sql, values);
    expect(plan.seqScans).toEqual([]);
    // PostgreSQL names a partition's copy of an expression index <partition>_expr_timestamp_idx.
    expect(plan.indexes).toEqual(
      [0, 1, 2].map((d) => `${partitionName('events', start + d * DAY, 'day')}_expr_timestamp_idx`),
    );
    const { rows } = await ctx.db.query<{ message: string }>(sql, values);
    expect(rows.map((r) => r.message)).toEqual(['op 0', 'op 1', 'op 2', 'op 3', 'op 4']);
  });

  it('the listing: newest root spans from the root index, with the filters and per-trace figures', async () => {
    const end = new Date(start + 500 * 8 * 60_000 + 1000);
    const filters = { start: new Date(start), end, errorOnly: true, minDurationMs: 100, service: 'svc-1', limit: 5 };
    const { sql, values } = listTracesSql(filters);
    const plan = await explain(sql, values);
    expect(plan.seqScans).toEqual([]);
    const { rows } = await ctx.db.query<{
      trace_id: string;
      span_count: number;
      error_count: number;
      services: string[];
    }>(sql, values);
    // Roots of svc-1 (t % 3 = 1) with an error (t % 10 = 0) lasting ≥ 100 ms (t % 7 ≥ 0): t = 490, 460, 430, 400, 370.
    expect(rows.map((r) => [r.trace_id, r.span_count, r.error_count, r.services])).toEqual(
      [490, 460, 430, 400, 370].map((t) => [traceId(t), 4, 1, [`svc-${t % 3}`]]),
    );
    const unfiltered = listTracesSql({ start: new Date(end.getTime() - 3_600_000), end, errorOnly: false, limit: 20 });
    const rootsPlan = await explain(unfiltered.sql, unfiltered.values);
    expect(rootsPlan.seqScans).toEqual([]);
    expect(rootsPlan.indexes).toContain(`${partitionName('events', start + 2 * DAY, 'day')}_timestamp_idx`);
  });
});
