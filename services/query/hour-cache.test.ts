import { describe, expect, it } from 'vitest';
import { HourCache, type HourBlock } from './hour-cache.ts';

function block(version: string, entries: number, sums = false): HourBlock {
  return {
    version,
    t: new Float64Array(entries),
    v: new Float64Array(entries),
    n: sums ? new Int32Array(entries) : null,
    total: sums ? new Float64Array(entries) : null,
  };
}

describe('HourCache', () => {
  it('serves a block only at the version it was read at, and drops it at another', () => {
    const cache = new HourCache(1 << 20);
    const b = block('12', 60);
    cache.set('cpu', 'gauge', 'ab', 7, b);
    expect(cache.get(cache.hoursOf('cpu', 'gauge', 'ab'), 7, '12', false)).toBe(b);
    expect(cache.get(cache.hoursOf('cpu', 'counter', 'ab'), 7, '12', false)).toBeUndefined();
    expect(cache.get(cache.hoursOf('cpu', 'gauge', 'ab'), 8, '12', false)).toBeUndefined();
    expect(cache.get(cache.hoursOf('cpu', 'gauge', 'ab'), 7, '13', false)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 1, misses: 3 });
  });

  it('does not serve a block read without sums to a reader that needs them', () => {
    const cache = new HourCache(1 << 20);
    cache.set('jobs', 'counter', 'cd', 1, block('5', 10));
    const hours = () => cache.hoursOf('jobs', 'counter', 'cd');
    expect(cache.get(hours(), 1, '5', true)).toBeUndefined();
    expect(cache.get(hours(), 1, '5', false)).toBeDefined();
    const withSums = block('5', 10, true);
    cache.set('jobs', 'counter', 'cd', 1, withSums);
    expect(cache.get(hours(), 1, '5', true)).toBe(withSums);
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(400 + 10 * 28);
  });

  it('stays within its bytes, dropping the least recently used first', () => {
    const one = 400 + 60 * 16; // a gauge hour of 60 entries
    const cache = new HourCache(10 * one);
    for (let h = 0; h < 10; h++) cache.set('cpu', 'gauge', 'ab', h, block('1', 60));
    expect(cache.bytes).toBe(10 * one);
    const hours = () => cache.hoursOf('cpu', 'gauge', 'ab');
    for (const h of [0, 1]) expect(cache.get(hours(), h, '1', false)).toBeDefined(); // now the most recently used
    cache.set('cpu', 'gauge', 'cd', 0, block('1', 60));
    // Past the bound: the least recently used go down to 90% of it (hours 2 and 3 of ab).
    expect(cache.bytes).toBe(9 * one);
    expect(cache.size).toBe(9);
    for (const h of [2, 3]) expect(cache.get(hours(), h, '1', false)).toBeUndefined();
    for (const h of [0, 1, 4, 9]) expect(cache.get(hours(), h, '1', false)).toBeDefined();
    expect(cache.get(cache.hoursOf('cpu', 'gauge', 'cd'), 0, '1', false)).toBeDefined();
    // Replacing an hour accounts for the old block; a block larger than the bound is not kept.
    cache.set('cpu', 'gauge', 'ab', 9, block('2', 60));
    expect(cache.bytes).toBe(9 * one);
    cache.set('cpu', 'gauge', 'ab', 20, block('1', 1000));
    expect(cache.get(hours(), 20, '1', false)).toBeUndefined();
    expect(cache.bytes).toBe(9 * one);
  });

  it('keeps what fits of a query over more hours than it holds, instead of evicting that query own hours', () => {
    const one = 400 + 60 * 16;
    const cache = new HourCache(10 * one);
    const hours = () => cache.hoursOf('cpu', 'gauge', 'ab');
    // Another query's hours: evicted for this one's.
    cache.set('mem', 'gauge', 'ab', 0, block('1', 60));
    const first = cache.mark();
    const kept = Array.from({ length: 15 }, (_, h) => cache.set('cpu', 'gauge', 'ab', h, block('1', 60), first));
    // Nine fit; the tenth fits by evicting the other query's hour but leaves no room (false: store no more); the
    // eleventh finds only the query's own blocks to evict and is not kept.
    expect(kept.slice(0, 9)).toEqual(Array(9).fill(true));
    expect(kept.slice(9)).toEqual(Array(6).fill(false));
    expect(cache.get(cache.hoursOf('mem', 'gauge', 'ab'), 0, '1', false)).toBeUndefined();
    expect(cache.bytes).toBe(10 * one);
    // The same query again: its first ten hours from memory, the rest read and not kept, the ten stay.
    const again = cache.mark();
    for (let h = 0; h < 10; h++) expect(cache.get(hours(), h, '1', false)).toBeDefined();
    expect(cache.get(hours(), 10, '1', false)).toBeUndefined();
    expect(cache.set('cpu', 'gauge', 'ab', 10, block('1', 60), again)).toBe(false);
    for (let h = 0; h < 10; h++) expect(cache.get(hours(), h, '1', false)).toBeDefined();
    // A later query over other hours evicts the least recently used down to 90% of the bound.
    const other = cache.mark();
    expect(cache.set('disk', 'gauge', 'cd', 0, block('1', 60), other)).toBe(true);
    expect(cache.bytes).toBe(9 * one);
  });
});
