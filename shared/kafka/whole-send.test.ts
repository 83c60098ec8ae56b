import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isRetriable, sendWhole } from './whole-send.ts';

const FAST = { retries: 2, initialRetryTimeMs: 1, maxRetryTimeMs: 2 };
const ACK = [{ topicName: 't', partition: 0, errorCode: 0 }];

describe('sendWhole', () => {
  it('retries a retriable failure as a new whole send, and returns its acknowledgement', async () => {
    const attempts: number[] = [];
    const result = await sendWhole(async () => {
      attempts.push(attempts.length);
      if (attempts.length < 3) {
        const refused = new KafkaJSConnectionError('Connection error: ECONNREFUSED');
        throw new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 0, retryTime: 0 });
      }
      return ACK;
    }, FAST);
    expect(result).toEqual(ACK);
    expect(attempts).toEqual([0, 1, 2]);
  });

  it('gives up after its retries with the last failure, and at once on a failure that is not retriable', async () => {
    let calls = 0;
    const refused = new KafkaJSConnectionError('Connection error: ECONNREFUSED');
    await expect(
      sendWhole(async () => {
        calls++;
        throw refused;
      }, FAST),
    ).rejects.toBe(refused);
    expect(calls).toBe(3);

    calls = 0;
    const tooLarge = new KafkaJSNonRetriableError('The request included a message larger than the max message size');
    await expect(
      sendWhole(async () => {
        calls++;
        throw tooLarge;
      }, FAST),
    ).rejects.toBe(tooLarge);
    expect(calls).toBe(1);
  });

  it("judges KafkaJS's wrapped last attempt by its cause", () => {
    const wrap = (e: Error) => new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 0, retryTime: 0 });
    expect(isRetriable(wrap(new KafkaJSConnectionError('closed')))).toBe(true);
    expect(isRetriable(wrap(new KafkaJSNonRetriableError('bad')))).toBe(false);
    expect(isRetriable(new Error('plain'))).toBe(false);
  });
});
