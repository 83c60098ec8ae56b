import { describe, expect, it } from 'vitest';
import { RollupBatch, RollupFieldsCache } from './rollups.ts';

describe('RollupBatch', () => {
  it('counts per minute and key, and lists the buckets it touches', () => {
    const batch = new RollupBatch(0);
    const minute = Date.UTC(2026, 10, 26, 16, 5);
    batch.add(minute + 1000, { kind: 'event', eventType: 'log', source: 'api', level: 'info' });
    batch.add(minute + 59_999, { kind: 'event', eventType: 'log', source: 'api', level: 'info' });
    batch.add(minute + 60_000, { kind: 'event', eventType: 'log', source: 'api', level: 'info' });
    batch.add(minute, { kind: 'metric', eventType: 'counter', source: 'http_requests_total', level: '' });
    expect(batch.size).toBe(3);
    expect(batch.buckets().sort()).toEqual([minute, minute + 60_000]);
  });

  it('upserts minutes and day totals in one statement, keys sorted, from unnest arrays', async () => {
    const batch = new RollupBatch(4);
    const minute = Date.UTC(2026, 10, 26, 16, 5);
    batch.add(minute, { kind: 'metric', eventType: 'gauge', source: 'b', level: '' });
    batch.add(minute, { kind: 'event', eventType: 'log', source: 'a', level: '' });
    batch.add(minute, { kind: 'event', eventType: 'log', source: 'a', level: '' });
    const calls: unknown[][] = [];
    const client = { query: async (_sql: string, values: unknown[]) => void calls.push(values) };
    await batch.upsert(client as never);
    const iso = new Date(minute).toISOString();
    expect(calls).toEqual([
      [
        [iso, iso],
        ['event', 'metric'],
        ['log', 'gauge'],
        ['a', 'b'],
        ['', ''],
        [2, 1],
        ['2026-11-26', '2026-11-26'],
        ['event', 'metric'],
        [2, 1],
        4,
      ],
    ]);
    await new RollupBatch(4).upsert(client as never);
    expect(calls.length).toBe(1);
  });
});

describe('RollupFieldsCache', () => {
  it('gives one object per key, with the key RollupBatch would make, and starts over past its bound', () => {
    const cache = new RollupFieldsCache();
    const a = cache.of('event', 'log', 'api', 'info');
    // Equal strings made apart (as decoding makes them) find the same object.
    expect(cache.of('event', ['l', 'og'].join(''), `a${'pi'}`, 'info')).toBe(a);
    expect(a).toEqual({ kind: 'event', eventType: 'log', source: 'api', level: 'info', key: 'event\0log\0api\0info' });
    const others = [cache.of('event', 'log', 'api', ''), cache.of('event', 'trace', 'api', 'info')];
    expect(new Set([a, ...others]).size).toBe(3);
    const minute = Date.UTC(2026, 10, 26, 16, 5);
    const [cached, plain] = [new RollupBatch(0), new RollupBatch(0)];
    for (const fields of [a, ...others]) {
      cached.add(minute, fields);
      plain.add(minute, { ...fields, key: undefined });
    }
    expect(cached).toEqual(plain);
    for (let i = 0; i < 25_000; i++) expect(cache.of('event', 'log', `s${i}`, 'info').source).toBe(`s${i}`);
    expect(cache.of('event', 'log', 'api', 'info')).toEqual(a);
  });
});
