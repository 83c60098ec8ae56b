/**
 * The plans of the query API's common statements, on three days of analysed data in daily partitions: EXPLAIN of
 * exactly the SQL the routes run (same builders, same bound values) must prune partitions to the requested time
 * range and read through the intended index, never a sequential scan of a raw table, and /stats must not touch
 * the raw tables at all.
 */
import crypto from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAllPartitions, partitionName } from '../../shared/db/partitions.ts';
import { TIMELINE_SQL } from '../incidents/timeline.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { downsampleSql } from './downsample.ts';
import { findEventSql } from './event-by-id.ts';
import { LISTING_SETTINGS, listEventsSql } from './events.ts';
import { listSamplesSql, metricFilterSql } from './metric-queries.ts';
import { seriesStateSql } from './prometheus.ts';
import type { PlannerSettings } from './sql.ts';
import { lastHourStart, ROLLUP_TOTALS_SQL } from './stats.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

interface PlanSummary {
  relations: Set<string>;
  indexes: Set<string>;
  nodes: string[];
  /** Relations holding data read by a sequential scan. */
  seqScans: string[];
}

const DAY = 86_400_000;

describe('query plans', () => {
  let ctx: TestContext;
  const today = Math.floor(Date.now() / DAY) * DAY;
  const start = today - 2 * DAY;
  const part = (table: string, dayStart: number) => partitionName(table, dayStart, 'day');

  /** EXPLAIN of `sql` as the route runs it: with its planner settings (SET LOCAL) when it has any. */
  const explain = async (sql: string, values: unknown[] = [], settings: PlannerSettings = {}): Promise<PlanSummary> => {
    const client = await ctx.db.connect();
    let rows: { 'QUERY PLAN': [{ Plan: PlanNode }] }[];
    try {
      await client.query('BEGIN');
      for (const [name, value] of Object.entries(settings)) await client.query(`SET LOCAL ${name} = ${value}`);
      rows = (await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`, values)).rows;
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const summary: PlanSummary = { relations: new Set(), indexes: new Set(), nodes: [], seqScans: [] };
    const walk = (node: PlanNode) => {
      summary.nodes.push(node['Node Type']);
      if (node['Relation Name']) summary.relations.add(node['Relation Name']);
      if (node['Index Name']) summary.indexes.add(node['Index Name']);
      // A sequential scan of an empty partition (tomorrow's, created ahead) costs nothing and is what the planner
      // picks.
      const empty =
        node['Relation Name'] === part('events', today + DAY) || node['Relation Name'] === part('metrics', today + DAY);
      if (node['Node Type'] === 'Seq Scan' && node['Relation Name'] && !empty)
        summary.seqScans.push(node['Relation Name']);
      node.Plans?.forEach(walk);
    };
    walk(rows[0]['QUERY PLAN'][0].Plan);
    return summary;
  };
  const rawPartitions = (plan: PlanSummary, table: 'events' | 'metrics') =>
    [...plan.relations].filter((r) => r.startsWith(`${table}_p`)).sort();

  beforeAll(async () => {
    ctx = await createTestContext();
    await ensureAllPartitions(ctx.db, 'day', start, today + DAY);
    // 3 days: an event every 2 s from 50 sources, a sample every 1.7 s over 20 names.
    await ctx.db.query(
      `INSERT INTO events (id, "timestamp", event_type, source, level, message, tags, payload)
       SELECT gen_random_uuid(), $1::timestamptz + i * interval '2 seconds', 'log', 'src-' || (i % 50), 'info',
              'message ' || i, jsonb_build_object('service', 'svc-' || (i % 7)), '{}'
         FROM generate_series(0, 3 * 43200 - 1) AS i`,
      [new Date(start)],
    );
    await ctx.db.query(
      `INSERT INTO metrics (id, "timestamp", name, metric_type, value, labels)
       SELECT gen_random_uuid(), $1::timestamptz + i * interval '1.7 seconds', 'm' || (i % 20), 'gauge', i,
              jsonb_build_object('host', 'h' || (i % 10))
         FROM generate_series(0, 150000) AS i`,
      [new Date(start)],
    );
    // 5% warn events, with notable_tags as the writer sets it for small tags (the covering partial index).
    await ctx.db.query(
      `INSERT INTO events (id, "timestamp", event_type, source, level, message, tags, payload, notable_tags)
       SELECT gen_random_uuid(), $1::timestamptz + i * interval '40 seconds', 'log', 'src-' || (i % 50), 'warn',
              'warning ' || i, jsonb_build_object('service', 'svc-' || (i % 7)), '{}', jsonb_build_object('service',
                'svc-' || (i % 7))
         FROM generate_series(0, 3 * 2160 - 1) AS i`,
      [new Date(start)],
    );
    await ctx.db.query('ANALYZE events');
    await ctx.db.query('ANALYZE metrics');
  });
  afterAll(() => ctx?.cleanup());

  const dayTwo = { start: new Date(start + DAY + 3_600_000), end: new Date(start + DAY + 7_200_000) };

  it('newest events: a backward primary-key scan merged across partitions, no sort, no seq scan', async () => {
    const { sql, values } = listEventsSql({ tags: [] }, { limit: 101, offset: 0 });
    const plan = await explain(sql, values, LISTING_SETTINGS);
    // Range partitions are scanned newest-first one after the other (an ordered Append), so LIMIT stops early.
    expect(plan.nodes.some((n) => n === 'Append' || n === 'Merge Append')).toBe(true);
    expect(plan.nodes).not.toContain('Sort');
    expect([...plan.indexes].every((i) => i.endsWith('_pkey'))).toBe(true);
    expect(plan.seqScans).toEqual([]);
  });

  it('a time range prunes to its partition and reads the primary key', async () => {
    const { sql, values } = listEventsSql({ tags: [['service', 'svc-3']], ...dayTwo }, { limit: 101, offset: 0 });
    const plan = await explain(sql, values, LISTING_SETTINGS);
    expect(rawPartitions(plan, 'events')).toEqual([part('events', start + DAY)]);
    expect([...plan.indexes]).toEqual([`${part('events', start + DAY)}_pkey`]);
    expect(plan.seqScans).toEqual([]);
  });

  it('tag and message filters over a day walk the primary key newest first instead of sorting the day', async () => {
    const filters = {
      tags: [
        ['service', 'svc-3'],
        ['region', 'eu'],
      ] as [string, string][],
      messageContains: 'message 1',
      start: new Date(start + DAY),
      end: new Date(start + 2 * DAY - 1),
    };
    const { sql, values } = listEventsSql(filters, { limit: 101, offset: 0 });
    const plan = await explain(sql, values, LISTING_SETTINGS);
    expect(rawPartitions(plan, 'events')).toEqual([part('events', start + DAY)]);
    expect([...plan.indexes]).toEqual([`${part('events', start + DAY)}_pkey`]);
    expect(plan.nodes).not.toContain('Sort');
    expect(plan.seqScans).toEqual([]);
    // Without the setting the planner, guessing a few rows for two tags, sorts the whole day instead.
    expect((await explain(sql, values)).nodes).toContain('Sort');
  });

  it('source + time range uses the (source, timestamp) index of the one partition', async () => {
    const { sql, values } = listEventsSql({ source: 'src-7', tags: [], ...dayTwo }, { limit: 101, offset: 0 });
    const plan = await explain(sql, values, LISTING_SETTINGS);
    expect(rawPartitions(plan, 'events')).toEqual([part('events', start + DAY)]);
    expect([...plan.indexes]).toEqual([expect.stringMatching(/source_timestamp_idx$/)]);
    expect(plan.seqScans).toEqual([]);
  });

  it('a cursor page prunes the partitions newer than the cursor', async () => {
    const micros = BigInt(start + DAY + 60_000) * 1000n;
    const { sql, values } = listEventsSql({ tags: [] }, { cursor: { micros, id: uuidv7() }, limit: 101, offset: 0 });
    const plan = await explain(sql, values, LISTING_SETTINGS);
    expect(rawPartitions(plan, 'events')).toEqual([part('events', start), part('events', start + DAY)].sort());
    expect(plan.seqScans).toEqual([]);
  });

  it('an event by UUIDv7 id probes the id index of the partitions around its time only', async () => {
    const id = uuidv7({ msecs: start + DAY + 12 * 3_600_000 });
    const [bounded, unbounded] = findEventSql(id, 600_000);
    const plan = await explain(bounded.sql, bounded.values);
    expect(rawPartitions(plan, 'events')).toEqual([part('events', start + DAY)]);
    // ... and the claims of producer-chosen ids by their key (a claimed id takes the unbounded lookup).
    expect([...plan.indexes].sort()).toEqual([expect.stringMatching(/_id_idx$/), 'ingest_ids_pkey']);
    const fallback = await explain(unbounded.sql, unbounded.values);
    expect(fallback.seqScans).toEqual([]);
    expect([...fallback.indexes].every((i) => i.endsWith('_id_idx'))).toBe(true);
  });

  it('incident timeline candidates: an index-only scan of events_notable_idx testing the indexed tags', async () => {
    const values = [
      crypto.randomUUID(),
      dayTwo.start.toISOString(),
      dayTwo.end.toISOString(),
      ['src-3', 'src-4'],
      ['src-3'],
      JSON.stringify({ service: 'svc-2' }),
      [JSON.stringify({ rule_id: crypto.randomUUID() })],
      101,
      101,
      0,
    ];
    const plan = await explain(TIMELINE_SQL, values);
    // Candidates from the window's partition only (the primary-key probes of rows whose tags are not in the index
    // are pruned at run time, when the candidate's timestamp is known).
    const covering = `${part('events', start + DAY)}_source_timestamp_id_event_type_notable_tag_idx`;
    expect([...plan.indexes].filter((i) => i.endsWith('notable_tag_idx'))).toEqual([covering]);
    expect(plan.nodes).toContain('Index Only Scan');
    expect(plan.seqScans).toEqual([]);
  });

  it("samples and downsampling by name + range use the pruned partition's (name, timestamp) index", async () => {
    const filters = { name: 'm3', labels: [['host', 'h3']] as [string, string][], ...dayTwo };
    const raw = listSamplesSql(filters, { limit: 100, offset: 0 });
    const rawPlan = await explain(raw.sql, raw.values);
    expect(rawPartitions(rawPlan, 'metrics')).toEqual([part('metrics', start + DAY)]);
    expect([...rawPlan.indexes]).toEqual([expect.stringMatching(/name_timestamp_idx$/)]);

    const where = metricFilterSql(filters);
    const sql = downsampleSql(where, { agg: 'p95', stepMs: 60_000, limit: 100, offset: 0 });
    const plan = await explain(sql, where.values);
    expect(rawPartitions(plan, 'metrics')).toEqual([part('metrics', start + DAY)]);
    expect([...plan.indexes]).toEqual([expect.stringMatching(/name_timestamp_idx$/)]);
    expect(plan.seqScans).toEqual([]);
  });

  it("stats read the day totals and the last hour's rollup partition only, never the raw tables", async () => {
    const noon = today + DAY / 2;
    const plan = await explain(ROLLUP_TOTALS_SQL, [lastHourStart(noon), new Date(noon)]);
    expect([...plan.relations].sort()).toEqual(['ingest_totals', part('rollups', today)]);
  });

  it('a scrape reads the series state and finds recently inserted samples through the BRIN index', async () => {
    const { sql, values } = seriesStateSql();
    const plan = await explain(sql, values);
    expect(plan.relations).toContain('metric_series');
    expect(plan.seqScans.filter((r) => r.startsWith('metrics_p'))).toEqual([]);
    expect([...plan.indexes].filter((i) => i.startsWith('metrics_p')).every((i) => i.endsWith('created_at_idx'))).toBe(
      true,
    );
  });
});
