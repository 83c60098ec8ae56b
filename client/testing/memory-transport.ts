/** A transport that keeps what it is given, parsed: for tests of what the client and the plugin emit. */
import type { QueuedItem } from '../encode.ts';
import type { SendOutcome, StreamKind, Transport } from '../transport.ts';

export class MemoryTransport implements Transport {
  readonly events: Record<string, unknown>[] = [];
  readonly metrics: Record<string, unknown>[] = [];
  batches = 0;

  async send(kind: StreamKind, items: readonly QueuedItem[]): Promise<SendOutcome> {
    this.batches++;
    for (const item of items) this[kind].push(JSON.parse(item.json) as Record<string, unknown>);
    return { type: 'delivered', rejected: 0, detail: null };
  }

  async close(): Promise<void> {}
}
