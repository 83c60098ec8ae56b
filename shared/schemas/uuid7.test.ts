import { describe, expect, it } from 'vitest';
import { timestampFromId } from './event.ts';
import { uuidv7 } from './uuid7.ts';

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('is a version 7, variant 10 UUID carrying the current millisecond, increasing within a process', () => {
    const before = Date.now();
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    const after = Date.now();
    for (const id of ids) expect(id).toMatch(UUID7);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    const window = { now: after, retentionDays: 1, futureGraceSeconds: 5 };
    const first = timestampFromId(ids[0], window)!;
    const last = timestampFromId(ids[ids.length - 1], window)!;
    expect(first).toBeGreaterThanOrEqual(before);
    // 4096 ids in one millisecond borrow the next one: at most ids/4096 ms ahead.
    expect(last).toBeLessThanOrEqual(after + 3);
  });
});
