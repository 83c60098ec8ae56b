/**
 * When to try again. Exponential backoff with jitter (so that many instrumented processes recovering from the
 * same outage do not retry in lockstep), unless the server said when: a `Retry-After` is honoured as the least
 * wait, plus a little jitter, capped so that a bogus header cannot park the client for hours.
 */
import { backoffMs } from '../shared/wait.ts';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Upper bound on a server-requested wait. */
  maxRetryAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 30_000, maxRetryAfterMs: 120_000 };

/** The wait before retry number `attempt` (0-based): between half and all of min(maxMs, initialMs * 2^attempt). */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions,
  retryAfterMs: number | null = null,
  random = Math.random,
): number {
  if (retryAfterMs !== null)
    return (
      Math.min(opts.maxRetryAfterMs, retryAfterMs) + Math.floor(random() * Math.min(1000, retryAfterMs * 0.1 + 50))
    );
  return Math.floor(backoffMs(attempt, opts.initialMs, opts.maxMs, random));
}

/** Parses a Retry-After header: delta-seconds or an HTTP-date. Returns milliseconds from `now`, or null. */
export function parseRetryAfter(header: string | null | undefined, now = Date.now()): number | null {
  if (header === null || header === undefined) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^[a-z]{3}, /i.test(text)) return null; // IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT"
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}
