/** Reads a topic from the beginning in a throw-away consumer group until `count` records arrived (or fails). */
import crypto from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { withTimeout } from '../../shared/wait.ts';

export interface ReadRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export async function readTopic(kafka: Kafka, topic: string, count: number, timeoutMs = 20_000): Promise<ReadRecord[]> {
  const consumer = kafka.consumer({ groupId: `reader-${crypto.randomBytes(4).toString('hex')}`, sessionTimeout: 6000, heartbeatInterval: 1000 });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => (done = r));
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(Array.isArray(v) ? v[0] : v);
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
