/**
 * Reading topics in tests, with throwaway consumer groups: readTopic reads every record a topic holds right now (up
 * to the high watermarks), for tests that assert what was produced (keys, headers, values) without a writer in
 * between; awaitRecords waits until a number of records arrived.
 */
import crypto from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { settleWithin, withTimeout } from '../../shared/wait.ts';

export interface TopicRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

export async function readTopic(kafka: Kafka, topic: string, timeoutMs = 20_000): Promise<TopicRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const total = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  const records: TopicRecord[] = [];
  if (total === 0) return records;
  const consumer = kafka.consumer({ groupId: `test-reader-${crypto.randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
        records.push({
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value!,
          headers,
        });
        if (records.length >= total) done();
      },
    });
    await settleWithin(finished, timeoutMs);
    return records;
  } finally {
    await consumer.disconnect();
  }
}

export interface ReadRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Reads `topic` from the beginning in a throwaway consumer group until `count` records arrived (or fails). */
export async function awaitRecords(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<ReadRecord[]> {
  const consumer = kafka.consumer({
    groupId: `reader-${crypto.randomBytes(4).toString('hex')}`,
    sessionTimeout: 6000,
    heartbeatInterval: 1000,
  });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => (done = r));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {}))
          if (v !== undefined) headers[k] = String(Array.isArray(v) ? v[0] : v);
        records.push({ partition, offset: message.offset, key: message.key, value: message.value, headers });
        if (records.length >= count) done();
      },
    });
    await withTimeout(finished, timeoutMs, () => {
      throw new Error(`read ${records.length} of ${count} records from ${topic} within ${timeoutMs} ms`);
    });
    return records;
  } finally {
    await consumer.disconnect();
  }
}
