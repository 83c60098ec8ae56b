// Starts a PRIVATE 3-node KRaft cluster (the shared broker is never touched) and SIGKILLs the broker that
// coordinates a consumer group of two BatchConsumers, while one of the two members also goes away: the survivor
// must find the new coordinator, rejoin, be assigned the other member's partitions and read them. The consumer
// client caches the coordinator it found once, so without BatchConsumer's own recovery (a new client once no
// heartbeat has succeeded for a session timeout) the survivor keeps fetching only what it had, as a member of a
// generation the group has long ended, and the other member's partitions are read by nobody.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { replicatedConfig } from '../../test/helpers/cluster.ts';
import { describe, expect, it } from 'vitest';
import { ensureKafkaJars, startKafkaCluster, type KafkaCluster } from '../../infra/kafka/broker.ts';
import { waitFor } from '../../test/helpers/context.ts';
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { createKafka, withAdmin } from './client.ts';
import { BatchConsumer } from './consumer.ts';
import { RecordProducer } from './record-producer.ts';
import { ensureTopics } from './topics.ts';

const PARTITIONS = 4;
const SESSION_TIMEOUT_MS = 6000;
const GROUP_KEY_TYPE = 0;

describe('BatchConsumer when its group coordinator dies', () => {
  it('rejoins through the new coordinator and takes over a departed member’s partitions', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-consumer-coordinator-test-'));
    let cluster: KafkaCluster | null = null;
    const members: BatchConsumer[] = [];
    let producer: RecordProducer | null = null;
    try {
      const libDir = await ensureKafkaJars({ dir: loadConfig().kafka.local.dir });
      cluster = await startKafkaCluster({ dir, libDir, nodes: 3, heapMb: 384, log: () => {} });
      const topic = `coordinator-${Date.now()}`;
      const config = replicatedConfig(cluster.brokers, topic, PARTITIONS);
      const kafka = createKafka(config.kafka, 'coordinator-test');
      await ensureTopics(kafka, config.kafka);
      const groupId = `${topic}-group`;

      const seen = [new Set<string>(), new Set<string>()];
      const assigned: number[][] = [[], []];
      for (const i of [0, 1]) {
        const member = new BatchConsumer(
          kafka,
          {
            groupId,
            topics: [topic],
            maxWaitMs: 100,
            maxBytesPerPartition: 1 << 20,
            sessionTimeoutMs: SESSION_TIMEOUT_MS,
            onBatch: async (batch) => {
              for (const record of batch.records) seen[i].add(record.value!.toString());
            },
            onAssignment: (assignment) => (assigned[i] = assignment[topic] ?? []),
          },
          createLogger('silent'),
        );
        members.push(member);
        await member.start();
      }
      await waitFor(
        async () => assigned.map((a) => a.length),
        ([a, b]) => a > 0 && b > 0 && a + b === PARTITIONS,
        60_000,
      );
      producer = new RecordProducer(kafka.settings);
      await producer.connect();
      const round = (r: number) =>
        Array.from({ length: PARTITIONS }, (_, partition) => ({
          topic,
          partition,
          value: Buffer.from(`r${r}-p${partition}`),
        }));
      await producer.send(round(1));
      await waitFor(
        async () => seen[0].size + seen[1].size,
        (n) => n === PARTITIONS,
        30_000,
      );

      const [coordinator] = await withAdmin(kafka, (admin) =>
        admin.findCoordinator({ keyType: GROUP_KEY_TYPE, keys: [groupId] }),
      );
      const before = [...assigned[0]];
      await cluster.kill(coordinator.nodeId);
      await members[1].stop(); // its leave goes to the dead coordinator: the group learns of it by its session
      await producer.send(round(2), 'none', { retries: 20, initialRetryTimeMs: 500, maxRetryTimeMs: 2000 });

      const wanted = round(2).map((m) => m.value.toString());
      await waitFor(
        async () => wanted.filter((v) => seen[0].has(v)).sort(),
        (got) => got.length === PARTITIONS,
        90_000,
      );
      expect(before.length).toBeLessThan(PARTITIONS);
      expect([...assigned[0]].sort()).toEqual([0, 1, 2, 3]);
    } finally {
      for (const member of members) await member.stop().catch(() => {});
      await producer?.close().catch(() => {});
      await cluster?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
