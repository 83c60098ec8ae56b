import { describe, expect, it } from 'vitest';
import { VigilError } from '../../shared/errors.ts';
import { LoadShedder, type ShedReason } from './load-shedder.ts';

function refusal(fn: () => unknown): [string, number | undefined, string] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(VigilError);
    const e = error as VigilError;
    return [e.code, e.retryAfterSeconds, e.message];
  }
  throw new Error('expected a refusal');
}

describe('LoadShedder', () => {
  it('bounds requests and bytes in flight, answering 429 with Retry-After, and frees capacity on release', () => {
    const shed: ShedReason[] = [];
    const shedder = new LoadShedder(2, 1000, (reason) => shed.push(reason));
    const a = shedder.admit(600);
    expect(refusal(() => shedder.admit(500))).toEqual([
      'VIGIL_ERR_RATE_LIMITED',
      1,
      'the gateway is at capacity (600 of 1000 body bytes are in flight); retry after 1 s',
    ]);
    const b = shedder.admit(400);
    expect(refusal(() => shedder.admit(0))[2]).toBe(
      'the gateway is at capacity (2 requests are in flight); retry after 1 s',
    );
    expect([shedder.inFlightRequests, shedder.inFlightBytes]).toEqual([2, 1000]);
    shedder.release(a);
    shedder.release(a); // idempotent: onResponse and onRequestAbort may both fire
    expect([shedder.inFlightRequests, shedder.inFlightBytes]).toEqual([1, 400]);
    shedder.release(b);
    expect([shedder.inFlightRequests, shedder.inFlightBytes]).toEqual([0, 0]);
    expect(shed).toEqual(['inflight_bytes', 'inflight_requests']);
  });

  it('admits one request larger than the byte bound when it is alone (the body limit bounds it)', () => {
    const shedder = new LoadShedder(10, 100, () => {});
    const big = shedder.admit(500);
    expect(() => shedder.admit(1)).toThrow(VigilError);
    shedder.release(big);
    expect(shedder.inFlightBytes).toBe(0);
  });

  it('re-sizes a request whose body inflated, refusing it when the inflated size does not fit', () => {
    const shedder = new LoadShedder(10, 1000, () => {});
    const other = shedder.admit(500);
    const gzip = shedder.admit(100);
    shedder.resize(gzip, 400);
    expect(shedder.inFlightBytes).toBe(900);
    expect(refusal(() => shedder.resize(gzip, 600))[0]).toBe('VIGIL_ERR_RATE_LIMITED');
    shedder.release(gzip);
    shedder.release(other);
    expect([shedder.inFlightRequests, shedder.inFlightBytes]).toEqual([0, 0]);
  });

  it('ignores re-sizing a released request (the rest of a refused body is drained after the answer)', () => {
    const shedder = new LoadShedder(10, 1000, () => {});
    const refused = shedder.admit(100);
    shedder.release(refused);
    shedder.resize(refused, 700);
    expect([shedder.inFlightRequests, shedder.inFlightBytes]).toEqual([0, 0]);
  });
});
