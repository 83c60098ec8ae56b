/**
 * What a delivery stream needs from a transport: send one batch, and say what happened in terms the retry loop can
 * act on. Transports never throw; every failure is one of these outcomes.
 */
import type { QueuedItem } from './encode.ts';

export type StreamKind = 'events' | 'metrics';

export type SendOutcome =
  /** Accepted; `rejected` items of the batch were refused individually (invalid for the server). */
  | { type: 'delivered'; rejected: number; detail: string | null }
  /** Worth retrying the same batch: the server is down, overloaded or slow. */
  | { type: 'retry'; retryAfterMs: number | null; reason: string }
  /** The whole batch was refused and retrying cannot help (bad token, wrong URL, invalid items). */
  | { type: 'rejected'; reason: string }
  /** The batch is too large for the server: split it and send the halves. */
  | { type: 'too_large'; reason: string };

export interface Transport {
  /** `deadline` (epoch ms, Infinity outside shutdown): an attempt still running then counts as a retry outcome. */
  send(kind: StreamKind, items: readonly QueuedItem[], deadline: number): Promise<SendOutcome>;
  close(): Promise<void>;
}
