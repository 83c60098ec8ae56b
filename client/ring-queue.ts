/**
 * A bounded FIFO of serialised items. Bounded twice, by count and by bytes; pushing past either bound evicts from
 * the head (the oldest), because during an outage the newest telemetry is the most useful. O(1) push, evict and
 * take: a ring over a fixed array, never Array#shift on a large array.
 */

export interface Sized {
  /** UTF-8 byte length of the serialised item, counted against maxBytes. */
  bytes: number;
}

export class RingQueue<T extends Sized> {
  private readonly slots: (T | undefined)[];
  private head = 0;
  private count = 0;
  private byteCount = 0;

  constructor(
    readonly maxItems: number,
    readonly maxBytes: number,
  ) {
    if (!(maxItems >= 1)) throw new RangeError('maxItems must be at least 1');
    this.slots = new Array(maxItems);
  }

  get length(): number {
    return this.count;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** Appends `item`; returns how many of the oldest items were evicted to make room (0 in the common case). */
  push(item: T): number {
    let evicted = 0;
    while (this.count > 0 && (this.count >= this.maxItems || this.byteCount + item.bytes > this.maxBytes)) {
      this.shift();
      evicted++;
    }
    this.slots[(this.head + this.count) % this.maxItems] = item;
    this.count++;
    this.byteCount += item.bytes;
    return evicted;
  }

  /** Removes and returns up to maxItems oldest items whose bytes sum to at most maxBytes (at least one item). */
  take(maxItems: number, maxBytes: number): T[] {
    const out: T[] = [];
    let bytes = 0;
    while (this.count > 0 && out.length < maxItems) {
      const next = this.slots[this.head]!;
      if (out.length > 0 && bytes + next.bytes > maxBytes) break;
      out.push(this.shift());
      bytes += next.bytes;
    }
    return out;
  }

  private shift(): T {
    const item = this.slots[this.head]!;
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.maxItems;
    this.count--;
    this.byteCount -= item.bytes;
    return item;
  }
}
