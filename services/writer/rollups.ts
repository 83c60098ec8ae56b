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
  /** The four joined by SEP, when already made (RollupFieldsCache). */
  key?: string;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const SEP = '\u0000'; // validation refuses NUL in every field, so it cannot occur inside one
/** Distinct rollup keys a RollupFieldsCache holds before it starts over. */
const CACHED_KEYS = 10_000;

/**
 * One RollupFields object per distinct key, shared by every row that has it: a batch's rows then hold no rollup
 * strings or objects of their own while the batch waits for its COPY (they would survive garbage collections).
 * Looked up by source, then type, then level (three maps): hashing the three short strings costs a tenth of
 * joining them into a key for one map (measured per row).
 */
export class RollupFieldsCache {
  private readonly cache = new Map<string, Map<string, Map<string, RollupFields>>>();
  private size = 0;

  of(kind: RollupKind, eventType: string, source: string, level: string): RollupFields {
    let byType = this.cache.get(source);
    if (byType === undefined) this.cache.set(source, (byType = new Map()));
    let byLevel = byType.get(eventType);
    if (byLevel === undefined) byType.set(eventType, (byLevel = new Map()));
    let fields = byLevel.get(level);
    if (fields === undefined) {
      if (this.size >= CACHED_KEYS) {
        this.cache.clear();
        this.size = 0;
        return this.of(kind, eventType, source, level);
      }
      const key = `${kind}${SEP}${eventType}${SEP}${source}${SEP}${level}`;
      fields = { kind, eventType, source, level, key };
      byLevel.set(level, fields);
      this.size++;
    }
    return fields;
  }
}

export class RollupBatch {
  /** Stored rows per minute (epoch ms), then per (kind, event_type, source, level) joined by SEP. */
  private readonly counts = new Map<number, Map<string, number>>();
  private keys = 0;
  /** Stored rows per (UTC day number × 2 + kind bit): numbers, formatted once per key in upsert(). */
  private readonly days = new Map<number, number>();

  /** @param partition the Kafka partition whose batch this counts: the key of its rows in ingest_totals. */
  constructor(private readonly partition: number) {}

  add(timestampMs: number, fields: RollupFields): void {
    const minute = Math.floor(timestampMs / MINUTE_MS) * MINUTE_MS;
    let byKey = this.counts.get(minute);
    if (byKey === undefined) this.counts.set(minute, (byKey = new Map()));
    const key = fields.key ?? `${fields.kind}${SEP}${fields.eventType}${SEP}${fields.source}${SEP}${fields.level}`;
    const count = byKey.get(key);
    if (count === undefined) this.keys++;
    byKey.set(key, (count ?? 0) + 1);
    const day = Math.floor(timestampMs / DAY_MS) * 2 + (fields.kind === 'event' ? 0 : 1);
    this.days.set(day, (this.days.get(day) ?? 0) + 1);
  }

  get size(): number {
    return this.keys;
  }

  /** Minute buckets touched (epoch ms), for creating rollup partitions before the upsert. */
  buckets(): number[] {
    return [...this.counts.keys()];
  }

  async upsert(client: PoolClient): Promise<void> {
    if (this.keys === 0) return;
    const buckets: string[] = [];
    const kinds: string[] = [];
    const types: string[] = [];
    const sources: string[] = [];
    const levels: string[] = [];
    const counts: number[] = [];
    for (const minute of [...this.counts.keys()].sort((a, b) => a - b)) {
      const byKey = this.counts.get(minute)!;
      const bucket = new Date(minute).toISOString();
      for (const key of [...byKey.keys()].sort()) {
        const [kind, eventType, source, level] = key.split(SEP);
        buckets.push(bucket);
        kinds.push(kind);
        types.push(eventType);
        sources.push(source);
        levels.push(level);
        counts.push(byKey.get(key)!);
      }
    }
    const dayKeys = [...this.days.keys()].sort((a, b) => a - b);
    const days = dayKeys.map((k) => new Date(Math.floor(k / 2) * DAY_MS).toISOString().slice(0, 10));
    const dayKinds = dayKeys.map((k) => (k % 2 === 0 ? 'event' : 'metric'));
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
