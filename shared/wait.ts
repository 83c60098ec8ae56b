/**
 * Waiting with a deadline and backing off, one way for the whole code base (client included): every timeout race
 * goes through withTimeout, whose timer is always cleared, so a settled wait never keeps a process alive or fires
 * later; every retry loop waits backoffMs.
 */

/** Doublings past this many would overflow nothing useful: the ceiling applies long before. */
const MAX_BACKOFF_DOUBLINGS = 30;

/**
 * `work`'s value if it settles within `ms` (its rejection propagates), otherwise what `onTimeout` returns (or
 * throws). The timer is cleared either way.
 */
export async function withTimeout<T, U>(work: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = Symbol('timeout');
  try {
    const winner = await Promise.race([
      work,
      new Promise<typeof timedOut>((resolve) => (timer = setTimeout(() => resolve(timedOut), ms))),
    ]);
    return winner === timedOut ? onTimeout() : (winner as T);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for `work` (its failure counts as settled) for at most `ms`; true when it settled in time. */
export async function settleWithin(work: Promise<unknown> | null | undefined, ms: number): Promise<boolean> {
  if (!work) return true;
  return withTimeout(
    work.then(
      () => true,
      () => true,
    ),
    ms,
    () => false,
  );
}

/**
 * Capped exponential backoff with jitter (so that many processes recovering from one outage do not retry in
 * lockstep): between half and all of min(maxMs, baseMs * 2^attempt); attempt 0 waits about `baseMs`.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, MAX_BACKOFF_DOUBLINGS));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Polls `check` every `intervalMs` until it holds; past `timeoutMs` throws "timed out waiting for <what>". */
export async function pollUntil(what: string, check: () => boolean, timeoutMs: number, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
