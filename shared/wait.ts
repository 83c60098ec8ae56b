/** Waiting with a deadline, the one timeout race of the code base: the timer is always cleared. */

/** Waits for `work` (its failure counts as settled) for at most `ms`; true when it settled in time. */
export async function settleWithin(work: Promise<unknown> | null | undefined, ms: number): Promise<boolean> {
  if (!work) return true;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work.then(() => true, () => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Capped exponential backoff with jitter: attempt 0 waits about `baseMs`, never more than `maxMs`. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
}
