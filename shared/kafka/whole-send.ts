/**
 * Produce with every retry a whole new send. vigil's producers leave retries to this module, never to the client:
 *  - KafkaJS 2.2.4 (vigil's producer until the move to `@platformatic/kafka`) could resolve a send that wrote only
 *    part of its records: on a retry it re-sent only to brokers that had not answered, so a partition whose leader
 *    had moved to a broker that already answered was sent nowhere — an acknowledged record never written.
 *  - `@platformatic/kafka` rejects a send when any partition's write failed (it does not resolve a partial write),
 *    but its own retries go to the leader it knew before the failure (a dead broker, until its metadata expires),
 *    and its one repeat on stale metadata sends all of a broker's records to the new leader of the first of them.
 * So each attempt here sends every record again, to the leaders known then (shared/kafka/record-producer.ts forgets
 * the metadata before an attempt). The price is that records of partitions that had succeeded are written twice;
 * every record vigil produces carries item ids, which the writer stores once. infra/kafka/cluster.fault.test.ts
 * proves on a 3-broker cluster that nothing acknowledged is lost when a broker dies.
 */
import { TimeoutError } from '@platformatic/kafka';
import { backoffMs } from '../wait.ts';

export interface WholeSendRetry {
  retries: number;
  initialRetryTimeMs: number;
  maxRetryTimeMs: number;
}

const DEFAULT_RETRY: WholeSendRetry = { retries: 5, initialRetryTimeMs: 200, maxRetryTimeMs: 5000 };

/** Runs `send` until it succeeds, retrying retriable failures as whole sends. */
export async function sendWhole<T>(send: () => Promise<T>, retry: WholeSendRetry = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (attempt >= retry.retries || !isRetriable(error)) throw error;
      await new Promise((r) => setTimeout(r, backoffMs(attempt, retry.initialRetryTimeMs, retry.maxRetryTimeMs)));
    }
  }
}

interface ClientError {
  canRetry?: boolean;
  errors?: unknown[];
}

/**
 * Whether a new whole send may succeed: every failure the client reports (a send fails per broker, a broker's
 * answer per partition) is one it marks retriable (a network error, a leader that moved, too few in-sync replicas)
 * or a request that timed out (its records may or may not be written; they are sent again).
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof TimeoutError) return true;
  const { canRetry, errors } = (error ?? {}) as ClientError;
  if (Array.isArray(errors) && errors.length > 0) return errors.every(isRetriable);
  return canRetry === true;
}
