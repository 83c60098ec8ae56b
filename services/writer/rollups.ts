/**
 * Ingest counters of one partition's batch: per-minute rollups (table rollups, infra/migrations/0002) and per-day
 * totals of the partition (table ingest_totals, 0009). A batch's stored rows are counted in memory and both are
 * upserted with ONE statement from unnest arrays, in the batch's transaction, so the counters move exactly with the
 * rows and the offsets. Keys are upserted in sorted order: two writers' transactions that touch the same counters
 * then lock them in the same order and wait for each other instead of deadlocking.
 */
import type { PoolClient } from '../../shared/db/pool.ts';

export type RollupKind = 'event' | 'metric';

export interface RollupFields {
  kind: RollupKind;
  /** events: event_type; metrics: metric_type. */
  eventType: string;
  /** events: source; metrics: the metric name. */
  source: string;
  /** events: level ('' when absent); metrics: ''. */
  level: string;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const SEP = '\u0000'; // validation refuses NUL in every field, so it cannot occur inside one

export class RollupBatch {
  private readonly counts = new Map<string, number>();
  private readonly days = new Map<string, number>();

  /** @param partition the Kafka partition whose batch this counts: the key of its rows in ingest_totals. */
  constructor(private readonly partition: number) {}

  add(timestampMs: number, fields: RollupFields): void {
    const minute = Math.floor(timestampMs / MINUTE_MS) * MINUTE_MS;
    const key = `${minute}${SEP}${fields.kind}${SEP}${fields.eventType}${SEP}${fields.source}${SEP}${fields.level}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const day = `${new Date(Math.floor(timestampMs / DAY_MS) * DAY_MS).toISOString().slice(0, 10)}${SEP}${fields.kind}`;
    this.days.set(day, (this.days.get(day) ?? 0) + 1);
  }

  get size(): number {
    return this.counts.size;
  }

  /** Minute buckets touched (epoch ms), for creating rollup partitions before the upsert. */
  buckets(): number[] {
    return [...new Set([...this.counts.keys()].map((k) => Number(k.slice(0, k.indexOf(SEP)))))];
  }

  async upsert(client: PoolClient): Promise<void> {
    if (this.counts.size === 0) return;
    const keys = [...this.counts.keys()].sort();
    const buckets: string[] = [];
    const kinds: string[] = [];
    const types: string[] = [];
    const sources: string[] = [];
    const levels: string[] = [];
    const counts: number[] = [];
    for (const key of keys) {
      const [minute, kind, eventType, source, level] = key.split(SEP);
      buckets.push(new Date(Number(minute)).toISOString());
      kinds.push(kind);
      types.push(eventType);
      sources.push(source);
      levels.push(level);
      counts.push(this.counts.get(key)!);
    }
    const dayKeys = [...this.days.keys()].sort();
    const days = dayKeys.map((k) => k.slice(0, k.indexOf(SEP)));
    const dayKinds = dayKeys.map((k) => k.slice(k.indexOf(SEP) + 1));
    const dayCounts = dayKeys.map((k) => this.days.get(k)!);
    await client.query(
      `WITH minutes AS (
         INSERT INTO rollups (bucket, kind, event_type, source, level, count)
         SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
         ON CONFLICT (bucket, kind, event_type, source, level) DO UPDATE SET count = rollups.count + EXCLUDED.count)
       INSERT INTO ingest_totals (day, kind, partition, count)
       SELECT day, kind, $10, count FROM unnest($7::date[], $8::text[], $9::bigint[]) AS t(day, kind, count)
       ON CONFLICT (day, kind, partition) DO UPDATE SET count = ingest_totals.count + EXCLUDED.count`,
      [buckets, kinds, types, sources, levels, counts, days, dayKinds, dayCounts, this.partition],
    );
  }
}
