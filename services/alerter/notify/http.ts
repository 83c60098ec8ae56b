/**
 * One JSON POST with a deadline, and the retry policy of notifications: network errors, timeouts, 408, 429 and 5xx
 * are retried with exponential backoff and jitter; other answers are final.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs } from '../../../shared/wait.ts';

import { HTTP_STATUS } from '../../../shared/http/status.ts';

const ANSWER_EXCERPT_CHARS = 200;

export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new DeliveryError(`POST ${url} failed: ${(error as Error).message}`, true);
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return;
  const retriable =
    response.status === HTTP_STATUS.REQUEST_TIMEOUT ||
    response.status === HTTP_STATUS.TOO_MANY_REQUESTS ||
    response.status >= HTTP_STATUS.INTERNAL_SERVER_ERROR;
  throw new DeliveryError(`POST ${url} answered ${response.status}: ${text.slice(0, ANSWER_EXCERPT_CHARS)}`, retriable);
}

export interface RetryPolicy {
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, initialDelayMs: 500, maxDelayMs: 30_000 };

/** Runs `attempt` until it succeeds, fails finally, or the attempts run out (then throws the last error). */
export async function withRetries(
  attempt: () => Promise<void>,
  policy: RetryPolicy,
  stopped: () => boolean = () => false,
): Promise<void> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      const retriable = !(error instanceof DeliveryError) || error.retriable;
      if (!retriable || n >= policy.attempts || stopped()) throw error;
      await sleep(backoffMs(n - 1, policy.initialDelayMs, policy.maxDelayMs));
    }
  }
}
