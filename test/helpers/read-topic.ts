/**
 * Reads every record a topic holds right now (up to the high watermarks) with a throwaway consumer group, for
 * tests that assert what the gateway produced (keys, headers, values) without a writer in between.
 */
import crypto from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { settleWithin } from '../../shared/wait.ts';

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
        records.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value!, headers });
        if (records.length >= total) done();
      },
    });
    await settleWithin(finished, timeoutMs);
    return records;
  } finally {
    await consumer.disconnect();
  }
}
