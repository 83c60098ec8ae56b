// Starts a PRIVATE 3-node KRaft cluster (temp dir, free ports; the shared broker is never touched), creates a topic
// the way vigil does with replication factor 3 and min.insync.replicas=2, and crashes brokers under it: with one of
// three gone every acks=all produce (sent as vigil's producers send) still succeeds and nothing acknowledged is
// lost; with two gone nothing is acknowledged (one replica left, below min.insync.replicas: the produce fails).
// The producer is vigil's RecordProducer (`@platformatic/kafka`, whole-send retries with fresh metadata): the dead
// broker led some partitions, so the first send after the crash fails for them and is retried whole.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { replicatedConfig } from '../../test/helpers/cluster.ts';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { RecordProducer } from '../../shared/kafka/record-producer.ts';
import { ensureTopics } from '../../shared/kafka/topics.ts';
import { kafkajsClient } from '../../test/helpers/kafkajs.ts';
import { ensureKafkaJars, startKafkaCluster, type KafkaCluster } from './broker.ts';

const PARTITIONS = 3;
const PER_ROUND = 30;
const RETRY_DEADLINE_MS = 60_000;

/** Retries `work` (leaders move after a crash) until it succeeds or the deadline passes. */
async function retrying<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RETRY_DEADLINE_MS;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The distinct values of the topic, read from the beginning until `expected` of them arrived or the deadline. */
async function readValues(kafka: Kafka, topic: string, expected: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: `${topic}-reader` });
  const values = new Set<string>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        values.add(message.value!.toString());
      },
    });
    const deadline = Date.now() + RETRY_DEADLINE_MS;
    while (values.size < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  } finally {
    await consumer.disconnect();
  }
  return [...values].sort();
}

/** As vigil's producers send (shared/kafka/record-producer.ts), one keyed record per value. */
const produceAll = (producer: RecordProducer, topic: string, values: string[]) =>
  retrying(() => producer.send(values.map((value) => ({ topic, key: Buffer.from(value), value: Buffer.from(value) }))));

describe('3-broker KRaft cluster (startKafkaCluster)', () => {
  it('keeps acknowledging and loses nothing with one broker killed; acknowledges nothing with two killed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-kafka-cluster-test-'));
    const lines: string[] = [];
    let cluster: KafkaCluster | null = null;
    try {
      const libDir = await ensureKafkaJars({ dir: loadConfig().kafka.local.dir });
      cluster = await startKafkaCluster({ dir, libDir, nodes: 3, heapMb: 384, log: (l) => lines.push(l) });
      expect(cluster.nodes.map((n) => n.nodeId)).toEqual([1, 2, 3]);
      expect(new Set(cluster.brokers).size).toBe(3);

      const topic = `cluster-${Date.now()}`;
      const config = replicatedConfig(cluster.brokers, topic, PARTITIONS);
      const kafka = createKafka(config.kafka, 'cluster-test');
      expect((await ensureTopics(kafka, config.kafka)).sort()).toEqual([topic, `${topic}.dlq`, `${topic}.m`]);

      const kafkajs = kafkajsClient(config.kafka.brokers);
      const admin = kafkajs.admin();
      await admin.connect();
      const producer = new RecordProducer(kafka.settings);
      await producer.connect();
      try {
        const [described] = (
          await admin.describeConfigs({
            resources: [{ type: 2, name: topic, configNames: ['min.insync.replicas'] }],
            includeSynonyms: false,
          })
        ).resources;
        const entries = described.configEntries.map((e) => [e.configName, e.configValue]);
        expect(entries).toEqual([['min.insync.replicas', '2']]);
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
        expect(topics[0].partitions.map((p) => p.replicas.length)).toEqual([3, 3, 3]);

        const round = (r: number) => Array.from({ length: PER_ROUND }, (_, i) => `r${r}-${i}`);
        await produceAll(producer, topic, round(1));
        await cluster.kill(2);
        await produceAll(producer, topic, round(2));
        // Read back from the two survivors (a new leader's high watermark may trail for a moment after the election).
        expect(await readValues(kafkajs, topic, 2 * PER_ROUND)).toEqual([...round(1), ...round(2)].sort());

        await cluster.kill(3);
        const value = Buffer.from('one replica');
        const messages = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, value }));
        const once = { retries: 0, initialRetryTimeMs: 0, maxRetryTimeMs: 0 };
        const answer = await producer.send(messages, 'none', once).then(
          () => 'acknowledged',
          (e: { code?: string }) => e.code,
        );
        expect(answer).toMatch(/^PLT_KFK_\w+$/); // a client error, not 'acknowledged'
      } finally {
        await producer.close().catch(() => {});
        await admin.disconnect().catch(() => {});
      }
    } finally {
      await cluster?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(lines.filter((l) => /^broker \d\/3 ready/.test(l))).toHaveLength(3);
  }, 300_000);
});
