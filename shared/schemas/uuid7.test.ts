import { describe, expect, it } from 'vitest';
import { timestampFromId } from './event.ts';
import { IdGenerator, uuidv7 } from './uuid7.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('IdGenerator', () => {
  it('makes UUIDv7s that embed the time, unique and increasing within a millisecond and across them', () => {
    const ids = new IdGenerator();
    const now = Date.parse('2024-05-01T12:00:00.123Z');
    const made = [...Array.from({ length: 3000 }, () => ids.next(now)), ids.next(now + 1), ids.next(now + 1)];
    for (const id of made) expect(id).toMatch(UUID_V7);
    expect(new Set(made).size).toBe(made.length);
    expect([...made].sort()).toEqual(made);
    const window = { now, retentionDays: 1, futureGraceSeconds: 60 };
    expect(timestampFromId(made[0], window)).toBe(now);
    expect(timestampFromId(made[made.length - 1], window)).toBe(now + 1);
  });

  it('borrows the next millisecond past 4096 ids in one, and never goes back when the clock does', () => {
    const ids = new IdGenerator();
    const now = 1_700_000_000_000;
    const made = Array.from({ length: 10_000 }, () => ids.next(now));
    made.push(ids.next(now - 5));
    expect(new Set(made).size).toBe(made.length);
    expect([...made].sort()).toEqual(made);
  });

  it('keeps two generators apart in the same millisecond', () => {
    const a = new IdGenerator();
    const b = new IdGenerator();
    const now = Date.now();
    const fromA = new Set(Array.from({ length: 1000 }, () => a.next(now)));
    expect(Array.from({ length: 1000 }, () => b.next(now)).some((id) => fromA.has(id))).toBe(false);
  });
});

describe('uuidv7', () => {
  it('is a version 7, variant 10 UUID carrying the current millisecond, increasing within a process', () => {
    const before = Date.now();
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    const after = Date.now();
    for (const id of ids) expect(id).toMatch(UUID_V7);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    const window = { now: after, retentionDays: 1, futureGraceSeconds: 5 };
    const first = timestampFromId(ids[0], window)!;
    const last = timestampFromId(ids[ids.length - 1], window)!;
    expect(first).toBeGreaterThanOrEqual(before);
    // 4096 ids in one millisecond borrow the next one: at most ids/4096 ms ahead.
    expect(last).toBeLessThanOrEqual(after + 3);
  });

  it("embeds the time its caller read (a request's arrival, for all of its items)", () => {
    // Past the milliseconds the test above may have borrowed: the generator never goes back.
    const now = Date.now() + 10;
    const window = { now, retentionDays: 1, futureGraceSeconds: 60 };
    const ids = [uuidv7(now), uuidv7(now), uuidv7(now)];
    for (const id of ids) expect(timestampFromId(id, window)).toBe(now);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
  });
});
