import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffMs, pollUntil, settleWithin, withTimeout } from './wait.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('withTimeout', () => {
  it("answers the work's value when it settles first, and clears its timer", async () => {
    vi.useFakeTimers();
    const answer = withTimeout(Promise.resolve('done'), 60_000, () => 'late');
    await expect(answer).resolves.toBe('done');
    expect(vi.getTimerCount()).toBe(0);
  });

  it("propagates the work's rejection, and clears its timer", async () => {
    vi.useFakeTimers();
    const answer = withTimeout(Promise.reject(new Error('refused')), 60_000, () => 'late');
    await expect(answer).rejects.toThrow('refused');
    expect(vi.getTimerCount()).toBe(0);
  });

  it("answers onTimeout's value at the deadline, or its error when it throws", async () => {
    vi.useFakeTimers();
    const never = new Promise<string>(() => {});
    const late = withTimeout(never, 1000, () => 'late');
    const refused = withTimeout(never, 1000, () => {
      throw new Error('no answer within 1000 ms');
    });
    const settled = Promise.allSettled([late, refused]);
    await vi.advanceTimersByTimeAsync(999);
    expect(vi.getTimerCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    const [a, b] = await settled;
    expect(a).toEqual({ status: 'fulfilled', value: 'late' });
    expect(b).toMatchObject({ status: 'rejected', reason: { message: 'no answer within 1000 ms' } });
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('settleWithin', () => {
  it('is true when the work settles (even by failing) in time, false at the deadline, true for no work', async () => {
    vi.useFakeTimers();
    await expect(settleWithin(Promise.resolve(1), 1000)).resolves.toBe(true);
    await expect(settleWithin(Promise.reject(new Error('x')), 1000)).resolves.toBe(true);
    await expect(settleWithin(null, 1000)).resolves.toBe(true);
    const late = settleWithin(new Promise(() => {}), 1000);
    await vi.advanceTimersByTimeAsync(1000);
    await expect(late).resolves.toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('pollUntil', () => {
  it('returns once the check holds, and names what it waited for past the deadline', async () => {
    let calls = 0;
    await pollUntil('the third call', () => ++calls === 3, 5000, 1);
    expect(calls).toBe(3);
    await expect(pollUntil('never', () => false, 30, 5)).rejects.toThrow('timed out waiting for never');
  });
});

describe('backoffMs', () => {
  it('doubles from baseMs up to maxMs, between half and all of the ceiling', () => {
    expect([0, 1, 2, 3, 10, 1000].map((n) => backoffMs(n, 100, 5000, () => 0))).toEqual([
      50, 100, 200, 400, 2500, 2500,
    ]);
    expect([0, 1, 2, 3, 10, 1000].map((n) => backoffMs(n, 100, 5000, () => 0.999999))).toEqual(
      [0, 1, 2, 3, 10, 1000].map((n) => Math.min(5000, 100 * 2 ** n) * (0.5 + 0.999999 / 2)),
    );
  });
});
