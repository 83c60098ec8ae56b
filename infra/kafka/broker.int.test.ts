// Starts a PRIVATE real Kafka broker (temp dir, free ports) so it never touches the shared one on
// 9092, and proves KafkaJS 2.2.4 works against Kafka 4.1 (KIP-896 removed old protocol versions).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { brokerStatus, isPortOpen, startBroker, stopBroker, type BrokerOptions } from './broker.ts';
import { pollUntil } from '../../shared/wait.ts';

// Bind all ports before releasing any, so the OS cannot hand out the same one twice.
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const until = (what: string, check: () => boolean, timeoutMs = 30_000) => pollUntil(what, check, timeoutMs, 50);

async function retrying<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e as { retriable?: boolean }).retriable || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('local Kafka broker (Apache Kafka 4.1.1 from Maven Central)', () => {
  it('starts, is reused, serves produce/consume/commit to KafkaJS, and stops', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-kafka-test-'));
    const [port, controllerPort] = await freePorts(2);
    const logLines: string[] = [];
    const opts: BrokerOptions = { dir, port, controllerPort, heapMb: 512, log: (l) => logLines.push(l) };
    try {
      const first = await startBroker(opts);
      expect(first.reused).toBe(false);
      expect(first.pid).toBeGreaterThan(0);
      expect(await startBroker(opts)).toEqual({ pid: first.pid, reused: true });
      expect(await brokerStatus(opts)).toEqual({
        running: true,
        pid: first.pid,
        logFile: path.join(dir, 'broker.log'),
      });

      const kafka = new Kafka({
        clientId: 'vigil-broker-test',
        brokers: [`127.0.0.1:${port}`],
        logLevel: logLevel.WARN,
      });
      const topic = `smoke-${Date.now()}`;
      const groupId = `smoke-group-${process.pid}-${Date.now()}`;
      const admin = kafka.admin();
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      const consumer = kafka.consumer({ groupId });
      try {
        await admin.connect();
        // On a just-started KRaft broker, createTopics' waitForLeaders can throw UNKNOWN_TOPIC_OR_PARTITION
        // (it only retries LEADER_NOT_AVAILABLE), and the metadata cache names a leader before the
        // ReplicaManager is one (KAFKA-15780). A produce then gets NOT_LEADER for some partitions and
        // KafkaJS re-sends the whole request, duplicating the partitions that had succeeded. So: retry the
        // create, then wait until every partition answers ListOffsets (which needs a real leader).
        await retrying(() =>
          admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] }),
        );
        const empty = await retrying(() => admin.fetchTopicOffsets(topic));
        expect(
          empty.map(({ partition, high }) => ({ partition, high })).sort((a, b) => a.partition - b.partition),
        ).toEqual([
          { partition: 0, high: '0' },
          { partition: 1, high: '0' },
          { partition: 2, high: '0' },
        ]);

        // 30 messages, 10 per partition, so the committed offsets are known exactly.
        const sent = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 3 }));
        await producer.connect();
        const acks = await producer.send({ topic, acks: -1, messages: sent });
        expect(acks.map((a) => a.partition).sort()).toEqual([0, 1, 2]);
        const written = await admin.fetchTopicOffsets(topic);
        expect(written.map((p) => p.high)).toEqual(['10', '10', '10']); // no duplicates from retries

        // The first group call on a fresh broker creates __consumer_offsets and gets "coordinator is
        // loading" for a moment; admin.fetchOffsets does not retry that (a consumer would crash-restart).
        const [before] = await retrying(() => admin.fetchOffsets({ groupId, topics: [topic] }));
        expect(before.partitions.map((p) => p.offset)).toEqual(['-1', '-1', '-1']);

        const received: string[] = [];
        const committed = new Map<number, string>();
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
            let next: string | null = null;
            for (const m of batch.messages) {
              received.push(m.value!.toString());
              resolveOffset(m.offset);
              next = (BigInt(m.offset) + 1n).toString(); // commit = last processed offset + 1
            }
            if (next === null) return;
            await consumer.commitOffsets([{ topic, partition: batch.partition, offset: next }]);
            committed.set(batch.partition, next);
            await heartbeat();
          },
        });
        await until(
          'all 3 partitions consumed and committed',
          () => committed.size === 3 && [...committed.values()].every((o) => o === '10'),
        );
        expect(received.sort()).toEqual(sent.map((m) => m.value).sort());
        await consumer.disconnect();

        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
        expect(offsets.topic).toBe(topic);
        expect(
          offsets.partitions
            .map(({ partition, offset }) => ({ partition, offset }))
            .sort((a, b) => a.partition - b.partition),
        ).toEqual([
          { partition: 0, offset: '10' },
          { partition: 1, offset: '10' },
          { partition: 2, offset: '10' },
        ]);
      } finally {
        await Promise.allSettled([consumer.disconnect(), producer.disconnect(), admin.disconnect()]);
      }

      expect(await stopBroker(opts)).toBe(true);
      expect(await isPortOpen(port)).toBe(false);
      expect(await isPortOpen(controllerPort)).toBe(false);
      expect((await brokerStatus(opts)).running).toBe(false);
      expect(fs.existsSync(path.join(dir, 'broker.pid'))).toBe(false);
      expect(await stopBroker(opts)).toBe(false);
    } catch (e) {
      // Surface what the broker said; the assertion alone rarely explains a broker problem.
      console.error(logLines.join('\n'));
      throw e;
    } finally {
      await stopBroker(opts).catch(() => false);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
