/**
 * What the client tells its owner through `onError`. It never throws into the caller: every problem is counted in
 * stats() and reported here, and the default reporter prints at most one line per code per minute to stderr.
 */
import type { StreamKind } from './transport.ts';

export type ClientErrorCode =
  /** An item failed the gateway's validation rules locally and was never sent. */
  | 'VIGIL_CLIENT_INVALID'
  /** The server refused items (bad token, unknown route, items invalid for its limits); not retried. */
  | 'VIGIL_CLIENT_REJECTED'
  /** A delivery attempt failed and will be retried after a backoff. */
  | 'VIGIL_CLIENT_RETRYING'
  /** Items were discarded: evicted at the queue bound, past the counter-series bound, or undelivered at close. */
  | 'VIGIL_CLIENT_DROPPED'
  /** A bug in the client, caught before it could reach the caller. */
  | 'VIGIL_CLIENT_INTERNAL';

export class VigilClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly stream: StreamKind | null,
    /** Items concerned. */
    readonly count: number,
  ) {
    super(message);
    this.name = 'VigilClientError';
  }
}

export type ErrorReporter = (error: VigilClientError) => void;

/** The default reporter: one stderr line per code per interval, with how many were suppressed meanwhile. */
export function throttledStderrReporter(intervalMs = 60_000): ErrorReporter {
  const last = new Map<ClientErrorCode, { at: number; suppressed: number }>();
  return (error) => {
    const now = Date.now();
    const entry = last.get(error.code);
    if (entry && now - entry.at < intervalMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    last.set(error.code, { at: now, suppressed: 0 });
    process.stderr.write(
      `vigil-client ${error.code}: ${error.message}` +
        `${suppressed > 0 ? ` (${suppressed} similar reports suppressed)` : ''}\n`,
    );
  };
}
