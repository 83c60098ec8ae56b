/**
 * Decoded metric_hours rows kept in the query role's memory, so that a dashboard refreshing a panel reads from
 * PostgreSQL only the hours it has not read before: a cached hour is used only while the row's version (a sequence
 * value a trigger stamps on every write of the row, infra/migrations/0028) is the one read in the same snapshot as
 * the rest of the query, so an answer from the cache is the answer from the table. Bounded by bytes: past the
 * bound, the least recently used hours go first. Rows without a version (written before the column existed) are
 * never cached.
 */

/** One metric_hours row's entries, as the loader reads them (big-endian columns decoded), and its version. */
export interface HourBlock {
  version: string;
  t: Float64Array;
  v: Float64Array;
  /** The sample counts and value sums: null when read for gauges, which present their values as they are. */
  n: Int32Array | null;
  total: Float64Array | null;
}

/** Bytes a block holds besides its arrays (its entry, object and array headers), for the memory bound. */
const BLOCK_OVERHEAD = 400;
/** When over its bound, the cache drops the least recently used blocks down to this share of it (not one by one). */
const EVICT_TO = 0.9;

function sizeOf(block: HourBlock): number {
  const arrays = block.t.byteLength + block.v.byteLength + (block.n?.byteLength ?? 0) + (block.total?.byteLength ?? 0);
  return BLOCK_OVERHEAD + arrays;
}

interface Entry {
  block: HourBlock;
  /** The cache's use count when the block was last used: the smallest go first. */
  used: number;
  size: number;
}

/** The hours held of one series (of one stored name and type), by hour. */
export type SeriesHours = Map<number, Entry>;

export class HourCache {
  /** By `${name}\0${type}\0${series}` (series: hex of its key), then by hour: one string key per series. */
  private readonly series = new Map<string, SeriesHours>();
  private held = 0;
  private uses = 0;
  /** Blocks served from memory, and blocks asked for and not held (read from the table), since the cache was made. */
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.held;
  }

  get size(): number {
    let n = 0;
    for (const hours of this.series.values()) n += hours.size;
    return n;
  }

  /** Whether any hour of a stored name is held (a query of a name with none reads its hours in one round). */
  holds(name: string): boolean {
    const prefix = `${name}\u0000`;
    for (const key of this.series.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }

  /** The hours held of a series, to look several up (get) without building its key again. */
  hoursOf(name: string, type: string, series: string): SeriesHours | undefined {
    return this.series.get(`${name}\u0000${type}\u0000${series}`);
  }

  /** The block of `hour` at `version`, with the sums when `sums` asks for them; else undefined (drops a stale one). */
  get(hours: SeriesHours | undefined, hour: number, version: string, sums: boolean): HourBlock | undefined {
    const entry = hours?.get(hour);
    if (entry === undefined || entry.block.version !== version || (sums && entry.block.n === null)) {
      if (entry !== undefined && entry.block.version !== version) {
        (hours as SeriesHours).delete(hour);
        this.held -= entry.size;
      }
      this.misses++;
      return undefined;
    }
    entry.used = ++this.uses;
    this.hits++;
    return entry.block;
  }

  /** A mark for set: blocks used after it (by the query that took it) are not evicted for its own blocks. */
  mark(): number {
    return this.uses;
  }

  /**
   * Keeps `block` (replacing what the hour held), then drops the least recently used while past maxBytes, but none
   * used since `since` (a mark of the query storing it): a query over more hours than the cache holds keeps what
   * fits of them, rather than evicting its own first hours for its last ones (with nothing left to hit next time).
   * False when the cache could not make room beyond this block: the caller stores no more (each try would scan).
   */
  set(name: string, type: string, series: string, hour: number, block: HourBlock, since = this.uses): boolean {
    const size = sizeOf(block);
    if (size > this.maxBytes) return false;
    const key = `${name}\u0000${type}\u0000${series}`;
    let hours = this.series.get(key);
    if (hours === undefined) this.series.set(key, (hours = new Map()));
    const old = hours.get(hour);
    if (old !== undefined) this.held -= old.size;
    hours.set(hour, { block, used: ++this.uses, size });
    this.held += size;
    if (this.held <= this.maxBytes) return true;
    this.evict(since);
    if (this.held > this.maxBytes) {
      // Full of the storing query's own blocks: this one is not kept.
      hours.delete(hour);
      if (hours.size === 0) this.series.delete(key);
      this.held -= size;
    }
    return this.held <= this.maxBytes * EVICT_TO;
  }

  /** Drops the least recently used blocks used at or before `since` until the cache holds EVICT_TO of its bound. */
  private evict(since: number): void {
    const all: { used: number; size: number; hours: SeriesHours; key: string; hour: number }[] = [];
    for (const [key, hours] of this.series) {
      for (const [hour, entry] of hours) {
        if (entry.used <= since) all.push({ used: entry.used, size: entry.size, hours, key, hour });
      }
    }
    all.sort((a, b) => a.used - b.used);
    for (const { size, hours, key, hour } of all) {
      if (this.held <= this.maxBytes * EVICT_TO) break;
      hours.delete(hour);
      if (hours.size === 0) this.series.delete(key);
      this.held -= size;
    }
  }
}
