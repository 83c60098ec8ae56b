/**
 * The UUIDv7 of every id vigil and its client assign (items without one, alert rules, incidents, the client's
 * events). Layout (RFC 9562 §5.7, with the §6.2 "fixed-length dedicated counter" method):
 *   48-bit Unix ms | version 7 | 12-bit counter (random start each ms) | variant 10 | 62 random bits (new each ms)
 * Within a generator (timestamp, counter) is unique and increasing; the random bits, drawn afresh every
 * millisecond, keep ids of different processes apart. Past 4096 ids in one millisecond the clock is borrowed from
 * the next millisecond, like the `uuid` package does. Not the `uuid` package's v7 on purpose: an id is made per
 * ingested item and per request of an instrumented service, and that one costs 0.5–0.9 µs here (16 random bytes
 * and a byte-by-byte format per id) against ~0.2 µs, a measurable share of the gateway's per-event CPU
 * (bench/gateway-stages.ts). The `uuid` package remains for ids with a given time (`v7({ msecs })`) and for v5.
 */
import crypto from 'node:crypto';

// biome-ignore-start lint/style/noMagicNumbers: bit masks and hex offsets of the layout described above
/** The creation time (epoch ms) embedded in a UUIDv7, or null for other versions. */
export function uuidV7Millis(id: string): number | null {
  if (id[14] !== '7') return null;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** A UUID of version 8 (RFC 9562 §5.8) from a hex digest (SHA-1 here): the same input gives the same id. */
export function uuidV8FromHex(hash: string): string {
  const variant = ((parseInt(hash[16], 16) & 0x3) | 0x8).toString(16);
  return (
    `${hash.slice(0, 8)}-${hash.slice(8, 12)}-8${hash.slice(13, 16)}-` +
    `${variant}${hash.slice(17, 20)}-${hash.slice(20, 32)}`
  );
}

export class IdGenerator {
  private ms = -1;
  private counter = 0;
  private prefix = '';
  private suffix = '';
  // Random bytes are drawn 1 kB at a time: one system call per ~100 milliseconds instead of one per millisecond.
  private readonly pool = Buffer.alloc(1000);
  private poolOffset = this.pool.length;

  /** A UUIDv7 for the time `now` (epoch ms). */
  next(now: number): string {
    if (now > this.ms) this.startMillisecond(now);
    else if (++this.counter > 0xfff) this.startMillisecond(this.ms + 1);
    return this.prefix + VERSION_AND_COUNTER[this.counter] + this.suffix;
  }

  private startMillisecond(ms: number): void {
    if (this.poolOffset + 10 > this.pool.length) {
      crypto.randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    const r = this.poolOffset;
    this.poolOffset += 10;
    this.ms = ms;
    this.counter = this.pool.readUInt16BE(r) & 0x7ff; // leaves room to count up within the millisecond
    const time = ms.toString(16).padStart(12, '0');
    this.prefix = `${time.slice(0, 8)}-${time.slice(8, 12)}-`;
    const variant = ((this.pool.readUInt16BE(r + 2) & 0x3fff) | 0x8000).toString(16);
    this.suffix = `-${variant}-${this.pool.toString('hex', r + 4, r + 10)}`;
  }
}
/** An id's third group (version 7, the 12-bit counter: `7000`–`7fff`) for every counter: none formatted per id. */
const VERSION_AND_COUNTER: readonly string[] = Array.from({ length: 0x1000 }, (_, n) => (0x7000 | n).toString(16));
// biome-ignore-end lint/style/noMagicNumbers: bit masks and hex offsets of the layout described above

const DEFAULT_GENERATOR = new IdGenerator();

/**
 * A UUIDv7 for now, from the process's generator (increasing within the process). A caller that read the clock
 * already passes its reading (the gateway: a request's arrival, for all of its items): the clock costs more than
 * the rest of an id here.
 */
export function uuidv7(now = Date.now()): string {
  return DEFAULT_GENERATOR.next(now);
}
