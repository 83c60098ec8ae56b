import { describe, expect, it } from 'vitest';
import { retire, step, type Instance, type Observation } from './state.ts';

const obs = (value: number | undefined): Observation => ({
  ruleId: 'r',
  fingerprint: 'f',
  labels: { host: 'a' },
  origin: { topic: 't', partition: 1 },
  value,
});
const timing = { forMs: 5000, keepFiringForMs: 0 };

/** Runs a sequence of (time, value) observations and returns every transition as [from, to, time]. */
function run(seq: [number, number | undefined][], t = timing) {
  let instance: Instance | undefined;
  const out: [string, string, number][] = [];
  for (const [now, value] of seq) {
    const result = step(instance, obs(value), now, t);
    instance = result.next;
    if (result.transition) out.push([result.transition.from, result.transition.to, result.transition.at]);
  }
  return { out, instance };
}

describe('alert state machine', () => {
  it('inactive → pending → firing after `for`, → resolved when the condition stops', () => {
    const { out, instance } = run([
      [0, 90],
      [2000, 91],
      [4999, 92],
      [5000, 93],
      [6000, 94],
      [7000, undefined],
    ]);
    expect(out).toEqual([
      ['inactive', 'pending', 0],
      ['pending', 'firing', 5000],
      ['firing', 'resolved', 7000],
    ]);
    expect(instance).toBeUndefined();
  });

  it('keeps activeAt and the latest value while pending and firing', () => {
    const { instance } = run([
      [0, 90],
      [5000, 93],
      [6000, 94],
    ]);
    expect(instance).toEqual({
      ruleId: 'r',
      fingerprint: 'f',
      labels: { host: 'a' },
      state: 'firing',
      value: 94,
      activeAt: 0,
      firedAt: 5000,
      keepFiringSince: null,
      origin: { topic: 't', partition: 1 },
      savedAt: 5000,
    });
  });

  it('saves a moving value at most every VALUE_SAVE_MS, and an unchanged one never', () => {
    const t = { forMs: 0, keepFiringForMs: 0 };
    let instance: Instance | undefined;
    const dirty: [number, boolean, number | undefined][] = [];
    for (const [now, value] of [
      [0, 90],
      [1000, 91],
      [9999, 92],
      [10_000, 93],
      [15_000, 93],
      [20_000, 93],
      [20_001, 94],
      [30_000, 95],
    ] as const) {
      const result = step(instance, obs(value), now, t);
      instance = result.next;
      dirty.push([now, result.dirty, instance?.savedAt]);
    }
    expect(dirty).toEqual([
      [0, true, 0], // fired
      [1000, false, 0],
      [9999, false, 0],
      [10_000, true, 10_000], // 93 saved: the saved 90 is 10 s old
      [15_000, false, 10_000],
      [20_000, false, 10_000], // unchanged value: nothing to save
      [20_001, true, 20_001], // 94 saved: the saved 93 is 10.001 s old
      [30_000, false, 20_001], // 95 waits: the saved 94 is 9.999 s old
    ]);
    expect(instance?.value).toBe(95);
  });

  it('pending → inactive when the condition stops before `for`', () => {
    expect(
      run([
        [0, 90],
        [3000, undefined],
        [4000, 90],
      ]).out,
    ).toEqual([
      ['inactive', 'pending', 0],
      ['pending', 'inactive', 3000],
      ['inactive', 'pending', 4000],
    ]);
  });

  it('fires at once with for = 0', () => {
    expect(run([[0, 90]], { forMs: 0, keepFiringForMs: 0 }).out).toEqual([['inactive', 'firing', 0]]);
  });

  it('keep_firing_for holds a firing alert through a short gap and resolves after a long one', () => {
    const t = { forMs: 0, keepFiringForMs: 3000 };
    expect(
      run(
        [
          [0, 90],
          [1000, undefined],
          [3000, undefined],
          [3500, 95],
          [4000, undefined],
          [6999, undefined],
          [7000, undefined],
        ],
        t,
      ).out,
    ).toEqual([
      ['inactive', 'firing', 0],
      ['firing', 'resolved', 7000],
    ]);
  });

  it('marks only state changes and keep-firing starts as worth persisting', () => {
    const t = { forMs: 1000, keepFiringForMs: 1000 };
    const first = step(undefined, obs(90), 0, t);
    expect(first.dirty).toBe(true);
    expect(step(first.next, obs(91), 500, t).dirty).toBe(false);
    const fired = step(first.next, obs(91), 1000, t);
    expect(fired.dirty).toBe(true);
    const held = step(fired.next, obs(undefined), 1200, t);
    expect([held.dirty, held.next?.keepFiringSince]).toEqual([true, 1200]);
    expect(step(held.next, obs(undefined), 1300, t).dirty).toBe(false);
    expect(step(held.next, obs(92), 1300, t)).toMatchObject({ dirty: true, next: { keepFiringSince: null } });
  });

  it('retires instances of removed rules', () => {
    const { instance } = run([
      [0, 90],
      [5000, 93],
    ]);
    expect(retire(instance!, 9000)).toMatchObject({ from: 'firing', to: 'resolved', value: 93, at: 9000 });
  });
});
