import { MultipleErrors, NetworkError, ProtocolError, TimeoutError, UserError } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { isRetriable, sendWhole } from './whole-send.ts';

const FAST = { retries: 2, initialRetryTimeMs: 1, maxRetryTimeMs: 2 };
const ACK = { offsets: [{ topic: 't', partition: 0, offset: 0n }] };

describe('sendWhole', () => {
  it('retries a retriable failure as a new whole send, and returns its acknowledgement', async () => {
    const attempts: number[] = [];
    const result = await sendWhole(async () => {
      attempts.push(attempts.length);
      if (attempts.length < 3) throw new NetworkError('Connection to 127.0.0.1:1 failed: ECONNREFUSED');
      return ACK;
    }, FAST);
    expect(result).toEqual(ACK);
    expect(attempts).toEqual([0, 1, 2]);
  });

  it('gives up after its retries with the last failure, and at once on a failure that is not retriable', async () => {
    let calls = 0;
    const refused = new NetworkError('Connection refused');
    await expect(
      sendWhole(async () => {
        calls++;
        throw refused;
      }, FAST),
    ).rejects.toBe(refused);
    expect(calls).toBe(3);

    calls = 0;
    const tooLarge = new ProtocolError('MESSAGE_TOO_LARGE');
    await expect(
      sendWhole(async () => {
        calls++;
        throw tooLarge;
      }, FAST),
    ).rejects.toBe(tooLarge);
    expect(calls).toBe(1);
  });

  it("judges a send that failed on several brokers or partitions by every one of the client's failures", () => {
    const moved = new ProtocolError('NOT_LEADER_OR_FOLLOWER');
    const replicas = new ProtocolError('NOT_ENOUGH_REPLICAS');
    expect(isRetriable(moved)).toBe(true);
    expect(isRetriable(new MultipleErrors('Producing messages failed.', [moved, replicas]))).toBe(true);
    expect(isRetriable(new TimeoutError('Request timed out'))).toBe(true);
    const mixed = new MultipleErrors('Producing messages failed.', [moved, new ProtocolError('MESSAGE_TOO_LARGE')]);
    expect(isRetriable(mixed)).toBe(false);
    expect(isRetriable(new UserError('Failed to serialize a message.'))).toBe(false);
    expect(isRetriable(new Error('plain'))).toBe(false);
    expect(isRetriable(undefined)).toBe(false);
  });
});
