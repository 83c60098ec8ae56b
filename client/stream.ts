/**
 * One delivery stream (events or metrics): a bounded queue and a single sender that takes batches off its head.
 * Memory is bounded by the queue (items and bytes) plus the one batch in flight; at the bound the oldest queued
 * items are evicted and counted. A batch that fails retriably is retried with backoff until it is delivered or
 * close()'s deadline passes, so an outage costs at most the bound, never the process.
 */
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import type { QueuedItem } from './encode.ts';
import { VigilClientError, type ClientErrorCode, type ErrorReporter } from './errors.ts';
import { RingQueue } from './ring-queue.ts';
import type { StreamKind, Transport } from './transport.ts';

export interface StreamOptions {
  maxQueueItems: number;
  maxQueueBytes: number;
  maxBatchItems: number;
  maxBatchBytes: number;
  backoff: BackoffOptions;
}

export interface StreamStats {
  /** Waiting in the queue now. */
  queued: number;
  /** In the batch being delivered now. */
  inFlight: number;
  /** Accepted by the gateway (or acknowledged by Kafka). */
  sent: number;
  /** Evicted at the bound, over the counter-series bound, or still undelivered when close() gave up. */
  dropped: number;
  /** Refused by the server. */
  rejected: number;
  /** Refused by the client's own validation, never sent. */
  invalid: number;
  /** Failed attempts that were retried. */
  retries: number;
}

export class DeliveryStream {
  private readonly queue: RingQueue<QueuedItem>;
  private readonly counts = { sent: 0, dropped: 0, rejected: 0, invalid: 0, retries: 0 };
  private inFlight = 0;
  /** Items ever pushed: the sequence number of the next one. The queue's head is item pushed - queue.length. */
  private pushed = 0;
  /** Items with a sequence number below this are due even in a partial batch. */
  private flushTarget = 0;
  private draining: Promise<void> | null = null;
  private deadline = Infinity;
  private givingUp = false;
  private wake: (() => void) | null = null;

  constructor(
    readonly kind: StreamKind,
    private readonly transport: Transport,
    private readonly opts: StreamOptions,
    private readonly report: ErrorReporter,
  ) {
    this.queue = new RingQueue(opts.maxQueueItems, opts.maxQueueBytes);
  }

  get stats(): StreamStats {
    return { queued: this.queue.length, inFlight: this.inFlight, ...this.counts };
  }

  push(item: QueuedItem): void {
    this.pushed++;
    const evicted = this.queue.push(item);
    if (evicted > 0)
      this.problem(
        'VIGIL_CLIENT_DROPPED',
        'dropped',
        evicted,
        `the queue is full (${this.opts.maxQueueItems} items / ${this.opts.maxQueueBytes} bytes); ` +
          'the oldest were evicted',
      );
    if (this.queue.length >= this.opts.maxBatchItems) void this.kick();
  }

  /** Counts an item that never made it into the queue (invalid, or refused before encoding). */
  discard(code: 'VIGIL_CLIENT_INVALID' | 'VIGIL_CLIENT_DROPPED', count: number, message: string): void {
    this.problem(code, code === 'VIGIL_CLIENT_INVALID' ? 'invalid' : 'dropped', count, message);
  }

  /** Marks everything queued now as due (partial batches included) and starts the sender; does not wait. */
  requestFlush(): void {
    this.flushTarget = this.pushed;
    if (this.due()) void this.kick();
  }

  /** Like requestFlush(), and resolves once what was queued at the call has been delivered (or refused). */
  async flush(): Promise<void> {
    this.requestFlush();
    const target = this.flushTarget;
    while (this.pushed - this.queue.length < target) await this.kick();
    if (this.draining) await this.draining;
  }

  /** Delivers everything, retrying until `deadline` (epoch ms); what is left then is dropped and counted. */
  async drainUntil(deadline: number): Promise<void> {
    this.deadline = deadline;
    this.flushTarget = this.pushed;
    this.wake?.();
    while (this.queue.length > 0 || this.draining !== null) await this.kick();
  }

  /**
   * Due: a full batch is waiting, or items older than the last flush request are. Partial batches otherwise wait
   * for the interval, so that a steady trickle is sent in batches, not one request per round trip.
   */
  private due(): boolean {
    return this.queue.length >= this.opts.maxBatchItems || this.pushed - this.queue.length < this.flushTarget;
  }

  private kick(): Promise<void> {
    this.draining ??= this.drain().finally(() => (this.draining = null));
    return this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && (this.due() || this.deadline !== Infinity)) {
      if (this.givingUp || Date.now() >= this.deadline) {
        const left = this.queue.take(Infinity, Infinity).length;
        this.problem(
          'VIGIL_CLIENT_DROPPED',
          'dropped',
          left,
          `${left} ${this.kind} undelivered when the shutdown deadline passed`,
        );
        return;
      }
      const batch = this.queue.take(this.opts.maxBatchItems, this.opts.maxBatchBytes);
      this.inFlight = batch.length;
      try {
        await this.deliver(batch);
      } finally {
        this.inFlight = 0;
      }
    }
  }

  private async deliver(batch: QueuedItem[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.transport.send(this.kind, batch, this.deadline);
      switch (outcome.type) {
        case 'delivered':
          this.counts.sent += batch.length - outcome.rejected;
          if (outcome.rejected > 0)
            this.problem(
              'VIGIL_CLIENT_REJECTED',
              'rejected',
              outcome.rejected,
              `the server refused ${outcome.rejected} of ${batch.length} ${this.kind}: ${outcome.detail}`,
            );
          return;
        case 'rejected':
          this.problem(
            'VIGIL_CLIENT_REJECTED',
            'rejected',
            batch.length,
            `${batch.length} ${this.kind} refused, not retried: ${outcome.reason}`,
          );
          return;
        case 'too_large': {
          if (batch.length === 1) {
            this.problem(
              'VIGIL_CLIENT_REJECTED',
              'rejected',
              1,
              `one ${this.kind} item is too large for the server: ${outcome.reason}`,
            );
            return;
          }
          const half = Math.ceil(batch.length / 2);
          await this.deliver(batch.slice(0, half));
          await this.deliver(batch.slice(half));
          return;
        }
        case 'retry': {
          const wait = backoffDelay(attempt, this.opts.backoff, outcome.retryAfterMs);
          if (Date.now() + wait >= this.deadline) {
            this.givingUp = true;
            this.problem(
              'VIGIL_CLIENT_DROPPED',
              'dropped',
              batch.length,
              `${batch.length} ${this.kind} undelivered at shutdown: ${outcome.reason}`,
            );
            return;
          }
          this.problem(
            'VIGIL_CLIENT_RETRYING',
            'retries',
            1,
            `${outcome.reason}; retrying ${batch.length} ${this.kind} in ${wait} ms`,
          );
          await this.sleep(wait);
        }
      }
    }
  }

  /** Sleeps without keeping the process alive; drainUntil() wakes it so that shutdown does not wait out a backoff. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    }).finally(() => (this.wake = null));
  }

  private problem(
    code: ClientErrorCode,
    counter: keyof DeliveryStream['counts'],
    count: number,
    message: string,
  ): void {
    this.counts[counter] += count;
    this.report(new VigilClientError(code, message, this.kind, count));
  }
}
