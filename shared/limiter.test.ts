import { describe, expect, it } from 'vitest';
import { Limiter } from './limiter.ts';

describe('Limiter', () => {
  it('gives at most `slots` holders a slot, hands a released slot to the next waiter in order', async () => {
    const limiter = new Limiter(2);
    await limiter.acquire();
    await limiter.acquire();
    const order: number[] = [];
    const third = limiter.acquire().then(() => order.push(3));
    const fourth = limiter.acquire().then(() => order.push(4));
    await Promise.resolve();
    expect([limiter.running, limiter.queued, order]).toEqual([2, 2, []]);
    limiter.release();
    await third;
    expect([limiter.running, limiter.queued, order]).toEqual([2, 1, [3]]);
    limiter.release();
    await fourth;
    limiter.release();
    limiter.release();
    expect([limiter.running, limiter.queued, order]).toEqual([0, 0, [3, 4]]);
  });

  it('refuses at once, taking nothing, when maxWaiting callers already wait', async () => {
    const limiter = new Limiter(1, 1);
    expect(await limiter.tryAcquire()).toBe(true);
    const waiting = limiter.tryAcquire();
    expect(await limiter.tryAcquire()).toBe(false);
    expect([limiter.running, limiter.queued]).toEqual([1, 1]);
    limiter.release();
    expect(await waiting).toBe(true);
    expect([limiter.running, limiter.queued]).toEqual([1, 0]);
    limiter.release();
    expect(limiter.running).toBe(0);
  });
});
