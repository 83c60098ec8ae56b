/**
 * Bounds what a gateway holds at once: requests being worked on, and request body bytes (declared by
 * Content-Length on arrival, a worst-case body limit when the length is not declared, the decompressed size once
 * gzip is undone). Beyond either bound the request is refused at once with 429 + Retry-After instead of queueing,
 * so memory stays bounded whatever producers do (fastify's under-pressure, reduced to what ingest needs).
 */
import { VigilError } from '../../shared/errors.ts';

export interface Ticket {
  bytes: number;
  released: boolean;
}

export type ShedReason = 'inflight_requests' | 'inflight_bytes';

const RETRY_AFTER_SECONDS = 1;

export class LoadShedder {
  private requests = 0;
  private bytes = 0;

  constructor(
    private readonly maxRequests: number,
    private readonly maxBytes: number,
    private readonly onShed: (reason: ShedReason) => void,
  ) {}

  get inFlightRequests(): number {
    return this.requests;
  }

  get inFlightBytes(): number {
    return this.bytes;
  }

  /** Admits a request that announces `bytes` of body, or throws VIGIL_ERR_RATE_LIMITED. */
  admit(bytes: number): Ticket {
    if (this.requests >= this.maxRequests)
      throw this.shed('inflight_requests', `${this.maxRequests} requests are in flight`);
    if (this.bytes + bytes > this.maxBytes && this.requests > 0) {
      throw this.shed('inflight_bytes', `${this.bytes} of ${this.maxBytes} body bytes are in flight`);
    }
    this.requests++;
    this.bytes += bytes;
    return { bytes, released: false };
  }

  /** Re-sizes an admitted request (its body turned out larger once decompressed), or throws VIGIL_ERR_RATE_LIMITED. */
  resize(ticket: Ticket, bytes: number): void {
    // A refused body may still be arriving (it is drained after the answer): its bytes are no longer held.
    if (ticket.released) return;
    const growth = bytes - ticket.bytes;
    if (growth > 0 && this.bytes + growth > this.maxBytes && this.requests > 1) {
      throw this.shed(
        'inflight_bytes',
        `the decompressed body does not fit: ${this.bytes} of ${this.maxBytes} body bytes are in flight`,
      );
    }
    this.bytes += growth;
    ticket.bytes = bytes;
  }

  release(ticket: Ticket): void {
    if (ticket.released) return;
    ticket.released = true;
    this.requests--;
    this.bytes -= ticket.bytes;
  }

  private shed(reason: ShedReason, why: string): VigilError {
    this.onShed(reason);
    return new VigilError(
      'VIGIL_ERR_RATE_LIMITED',
      `the gateway is at capacity (${why}); retry after ${RETRY_AFTER_SECONDS} s`,
      undefined,
      RETRY_AFTER_SECONDS,
    );
  }
}
