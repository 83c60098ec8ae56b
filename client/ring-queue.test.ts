import { describe, expect, it } from 'vitest';
import { RingQueue } from './ring-queue.ts';

const item = (n: number, bytes = 1) => ({ n, bytes });

describe('RingQueue', () => {
  it('is first in, first out across wrap-around', () => {
    const q = new RingQueue<{ n: number; bytes: number }>(3, 100);
    q.push(item(1));
    q.push(item(2));
    expect(q.take(1, 100).map((i) => i.n)).toEqual([1]);
    q.push(item(3));
    q.push(item(4));
    expect(q.take(10, 100).map((i) => i.n)).toEqual([2, 3, 4]);
    expect([q.length, q.bytes]).toEqual([0, 0]);
  });

  it('evicts the oldest at the item bound and reports how many', () => {
    const q = new RingQueue<{ n: number; bytes: number }>(3, 100);
    const evicted = [1, 2, 3, 4, 5].map((n) => q.push(item(n)));
    expect(evicted).toEqual([0, 0, 0, 1, 1]);
    expect(q.take(10, 100).map((i) => i.n)).toEqual([3, 4, 5]);
  });

  it('evicts the oldest at the byte bound', () => {
    const q = new RingQueue<{ n: number; bytes: number }>(100, 10);
    q.push(item(1, 4));
    q.push(item(2, 4));
    expect(q.push(item(3, 6))).toBe(1);
    expect([q.length, q.bytes]).toEqual([2, 10]);
    // An item larger than the whole bound still gets in, alone.
    expect(q.push(item(4, 50))).toBe(2);
    expect(q.take(10, 100).map((i) => i.n)).toEqual([4]);
  });

  it('takes batches bounded by count and bytes, but always at least one item', () => {
    const q = new RingQueue<{ n: number; bytes: number }>(100, 1000);
    for (let n = 1; n <= 6; n++) q.push(item(n, n === 1 ? 30 : 5));
    expect(q.take(10, 20).map((i) => i.n)).toEqual([1]);
    expect(q.take(2, 100).map((i) => i.n)).toEqual([2, 3]);
    expect(q.take(10, 12).map((i) => i.n)).toEqual([4, 5]);
    expect(q.take(10, 12).map((i) => i.n)).toEqual([6]);
    expect(q.take(10, 12)).toEqual([]);
  });
});
