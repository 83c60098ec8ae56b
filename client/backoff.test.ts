import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF, parseRetryAfter } from './backoff.ts';

describe('backoffDelay', () => {
  it('doubles from initialMs up to maxMs, jittered between half and all of the ceiling', () => {
    const low = [0, 1, 2, 3, 10, 100].map((a) => backoffDelay(a, DEFAULT_BACKOFF, null, () => 0));
    const high = [0, 1, 2, 3, 10, 100].map((a) => backoffDelay(a, DEFAULT_BACKOFF, null, () => 0.999999));
    expect(low).toEqual([125, 250, 500, 1000, 15_000, 15_000]);
    expect(high).toEqual([249, 499, 999, 1999, 29_999, 29_999]);
  });

  it('waits at least what Retry-After asks, capped at maxRetryAfterMs', () => {
    expect(backoffDelay(7, DEFAULT_BACKOFF, 2000, () => 0)).toBe(2000);
    expect(backoffDelay(0, DEFAULT_BACKOFF, 2000, () => 0.999)).toBeLessThan(2000 + 250);
    expect(backoffDelay(0, DEFAULT_BACKOFF, 10 * 3_600_000, () => 0)).toBe(DEFAULT_BACKOFF.maxRetryAfterMs);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP-dates', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Sun, 31 Dec 2023 23:00:00 GMT', now)).toBe(0);
  });

  it('ignores absent and unreadable values', () => {
    expect([parseRetryAfter(null), parseRetryAfter(undefined), parseRetryAfter('soon'), parseRetryAfter('-1')]).toEqual(
      [null, null, null, null],
    );
  });
});
