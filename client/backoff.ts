/**
 * When to try again. Exponential backoff with jitter (so that many instrumented processes recovering from the
 * same outage do not retry in lockstep), unless the server said when: a `Retry-After` is honoured as the least
 * wait, plus a little jitter, capped so that a bogus header cannot park the client for hours.
 */
import { backoffMs } from '../shared/wait.ts';

import { MS_PER_SECOND } from '../shared/units.ts';

/** A Retry-After delay gets up to 10% (+50 ms, at most 1 s) of random spread so that clients do not return together. */
const JITTER_SHARE = 0.1;
const MIN_JITTER_MS = 50;
const MAX_JITTER_MS = 1000;

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
      Math.min(opts.maxRetryAfterMs, retryAfterMs) +
      Math.floor(random() * Math.min(MAX_JITTER_MS, retryAfterMs * JITTER_SHARE + MIN_JITTER_MS))
    );
  return Math.floor(backoffMs(attempt, opts.initialMs, opts.maxMs, random));
}

/** Parses a Retry-After header: delta-seconds or an HTTP-date. Returns milliseconds from `now`, or null. */
export function parseRetryAfter(header: string | null | undefined, now = Date.now()): number | null {
  if (header === null || header === undefined) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * MS_PER_SECOND;
  if (!/^[a-z]{3}, /i.test(text)) return null; // IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT"
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}
