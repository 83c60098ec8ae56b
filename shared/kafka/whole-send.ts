/**
 * Produce with every retry a whole new send. KafkaJS 2.2.4 may resolve a send that wrote only part of its records:
 * when one broker's request fails and KafkaJS retries, it re-sends only to the brokers that have not answered yet,
 * but maps the partitions to leaders again; a partition whose leadership moved in between to a broker that had
 * already answered (a broker crash or restart under load) is sent nowhere, and the send resolves without it. With
 * acks=all that is an acknowledged record that was never written (reproduced by infra/kafka/cluster.fault.test.ts).
 *
 * So vigil's producers give KafkaJS no retries of their own (`retry: NO_KAFKAJS_RETRIES`) and retry here: each attempt
 * sends every record again, to the leaders known then. The price is that records of partitions that had succeeded
 * are written twice; every record vigil produces carries item ids, which the writer stores once.
 */
import type { RecordMetadata } from 'kafkajs';
import { backoffMs } from '../wait.ts';

/** For kafka.producer({ retry }): KafkaJS retries nothing itself, sendWhole does. */
export const NO_KAFKAJS_RETRIES = { retries: 0 } as const;

export interface WholeSendRetry {
  retries: number;
  initialRetryTimeMs: number;
  maxRetryTimeMs: number;
}

const DEFAULT_RETRY: WholeSendRetry = { retries: 5, initialRetryTimeMs: 200, maxRetryTimeMs: 5000 };

/** Runs `send` (one KafkaJS send or sendBatch) until it succeeds, retrying retriable failures as whole sends. */
export async function sendWhole(
  send: () => Promise<RecordMetadata[]>,
  retry: WholeSendRetry = DEFAULT_RETRY,
): Promise<RecordMetadata[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (attempt >= retry.retries || !isRetriable(error)) throw error;
      await new Promise((r) => setTimeout(r, backoffMs(attempt, retry.initialRetryTimeMs, retry.maxRetryTimeMs)));
    }
  }
}

/** KafkaJS wraps the failure of its last (here: only) attempt; what counts is whether that failure was retriable. */
export function isRetriable(error: unknown): boolean {
  const cause =
    (error as { name?: string; cause?: unknown }).name === 'KafkaJSNumberOfRetriesExceeded'
      ? (error as { cause?: unknown }).cause
      : error;
  return (cause as { retriable?: boolean } | undefined)?.retriable === true;
}
