/**
 * Time partitions of events, metrics and rollups: named <table>_pYYYYMMDD (day) or <table>_pYYYYMMDDHH (hour), UTC.
 * Events and metrics use the configured granularity, rollups are always daily (a day of per-minute counters is
 * small). Partitions are created ahead of time (the maintenance role, and the writer at start) and, as a safety
 * net, on demand for any record whose bucket has none (a COPY into a range without a partition would fail the
 * whole batch). Retention drops whole partitions (shared/db/retention.ts).
 */
import type pg from 'pg';
import { SQLSTATE, sqlState } from './errors.ts';
import { inTransaction, quoteIdent } from './pool.ts';

export type Granularity = 'hour' | 'day';
export const PARTITIONED_TABLES = ['events', 'metrics', 'rollups'] as const;
export type PartitionedTable = (typeof PARTITIONED_TABLES)[number];

/** The partition size of `table` when events and metrics use `configured`. */
export function granularityOf(table: PartitionedTable, configured: Granularity): Granularity {
  return table === 'rollups' ? 'day' : configured;
}

/** Partitions of every partitioned table covering [fromMs, toMs]; returns the names it created. */
export async function ensureAllPartitions(
  db: pg.Pool,
  configured: Granularity,
  fromMs: number,
  toMs: number,
): Promise<string[]> {
  const created: string[] = [];
  for (const table of PARTITIONED_TABLES) {
    created.push(...(await ensurePartitions(db, table, granularityOf(table, configured), fromMs, toMs)));
  }
  return created;
}

const STEP: Record<Granularity, number> = { hour: 3_600_000, day: 86_400_000 };

export function bucketStart(ms: number, granularity: Granularity): number {
  return Math.floor(ms / STEP[granularity]) * STEP[granularity];
}

export function partitionName(table: string, startMs: number, granularity: Granularity): string {
  const iso = new Date(startMs).toISOString(); // 2026-11-26T16:00:00.000Z
  const [, year, month, day, hour] = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})/.exec(iso)!;
  const stamp = year + month + day + (granularity === 'hour' ? hour : '');
  return `${table}_p${stamp}`;
}

type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** Creates the missing partitions covering [fromMs, toMs]; returns the names it created. */
export async function ensurePartitions(
  db: pg.Pool,
  table: PartitionedTable,
  granularity: Granularity,
  fromMs: number,
  toMs: number,
): Promise<string[]> {
  const starts: number[] = [];
  for (let s = bucketStart(fromMs, granularity); s <= toMs; s += STEP[granularity]) starts.push(s);
  return createPartitions(db, table, granularity, starts);
}

export async function createPartitions(
  db: pg.Pool,
  table: PartitionedTable,
  granularity: Granularity,
  starts: number[],
): Promise<string[]> {
  const existing = new Set((await listPartitions(db, table)).map((p) => p.name));
  const missing = starts.filter((s) => !existing.has(partitionName(table, s, granularity)));
  if (missing.length === 0) return [];
  return inTransaction(db, async (client) => {
    const created: string[] = [];
    // Serialises concurrent creators (several writers, maintenance) on the same parent table.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`vigil.partitions.${table}`]);
    for (const start of missing) {
      const name = partitionName(table, start, granularity);
      const from = new Date(start).toISOString();
      const to = new Date(start + STEP[granularity]).toISOString();
      await client.query('SAVEPOINT p');
      try {
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${quoteIdent(name)} PARTITION OF ${quoteIdent(table)} FOR VALUES FROM ` +
            `('${from}') TO ('${to}')`,
        );
        created.push(name);
      } catch (error) {
        // 42P17: a partition of another granularity already covers this range; it will receive the rows.
        if (sqlState(error) !== SQLSTATE.INVALID_OBJECT_DEFINITION) throw error;
        await client.query('ROLLBACK TO SAVEPOINT p');
      }
    }
    return created;
  });
}

export interface PartitionInfo {
  name: string;
  fromMs: number;
  toMs: number;
}

export async function listPartitions(db: Queryable, table: PartitionedTable): Promise<PartitionInfo[]> {
  const { rows } = await db.query<{ name: string; bound: string }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace
      ORDER BY c.relname`,
    [table],
  );
  return rows.flatMap((row) => {
    const match = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(row.bound);
    return match ? [{ name: row.name, fromMs: parsePgTimestamp(match[1]), toMs: parsePgTimestamp(match[2]) }] : [];
  });
}

/** Parses PostgreSQL's text form of a timestamptz ('2026-11-26 00:00:00+00', '2026-11-26 01:00:00+01:00'). */
export function parsePgTimestamp(text: string): number {
  const iso = text.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00');
  return Date.parse(iso);
}

/** Remembers which buckets have a partition so the writer asks PostgreSQL only for new ones. */
export class PartitionCache {
  private readonly known = new Map<PartitionedTable, Set<number>>();

  constructor(
    private readonly db: pg.Pool,
    private readonly granularity: Granularity,
  ) {}

  async ensureFor(table: PartitionedTable, timestamps: Iterable<number>): Promise<void> {
    const known = this.known.get(table) ?? new Set<number>();
    this.known.set(table, known);
    const granularity = granularityOf(table, this.granularity);
    const wanted = new Set<number>();
    for (const ts of timestamps) {
      const start = bucketStart(ts, granularity);
      if (!known.has(start)) wanted.add(start);
    }
    if (wanted.size === 0) return;
    await createPartitions(this.db, table, granularity, [...wanted]);
    for (const start of wanted) known.add(start);
  }

  forget(table: PartitionedTable): void {
    this.known.delete(table);
  }
}
