/**
 * Durability at the edge: with its broker stopped, the gateway answers 503 + Retry-After within the produce
 * deadline (no hanging requests, nothing acknowledged), and accepts again once the broker is back. The broker is a
 * private one (temp dir, free ports, the shared jars), so the broker every other test uses is never touched.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { loadConfig } from '../../shared/config.ts';
import { startBroker, stopBroker, type BrokerOptions } from '../../infra/kafka/broker.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { unbundle } from '../../test/helpers/bundles.ts';
import { readTopic } from '../../test/helpers/read-topic.ts';
import { loadCodecs } from '../../shared/schemas/avro.ts';

const PRODUCE_TIMEOUT_MS = 1500;
// The deadline plus what one request costs besides waiting (a slow, shared CI machine included).
const ANSWER_BOUND_MS = PRODUCE_TIMEOUT_MS + 1500;

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

describe('gateway with Kafka stopped', () => {
  let broker: BrokerOptions;
  let ctx: TestContext;
  let api: Runtime;

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-gateway-fault-'));
    // Reuse the jars of the shared local broker instead of fetching them again.
    fs.symlinkSync(path.join(loadConfig(process.env).kafka.local.dir, 'lib'), path.join(dir, 'lib'));
    const [port, controllerPort] = await freePorts(2);
    broker = { dir, port, controllerPort, heapMb: 512, log: () => {} };
    await startBroker(broker);
    ctx = await createTestContext({ KAFKA_BROKERS: `127.0.0.1:${port}`, KAFKA_TOPIC_PARTITIONS: '1' });
    api = await ctx.start('gateway', { INGEST_PRODUCE_TIMEOUT_MS: String(PRODUCE_TIMEOUT_MS) });
  });

  afterAll(async () => {
    await startBroker(broker).catch(() => {}); // cleanup deletes the test's topics on it
    await ctx?.cleanup();
    await stopBroker(broker);
    fs.rmSync(broker.dir, { recursive: true, force: true });
  });

  const post = (source: string) =>
    api.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/events',
      headers: { authorization: `Bearer ${ctx.token('user')}` },
      payload: [{ event_type: 'log', source, message: 'm' }],
    });

  it('answers 503 + Retry-After within the deadline while the broker is down, then recovers', async () => {
    expect((await post('before')).statusCode).toBe(202);

    await stopBroker(broker);
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const res = await post(`during-${i}`);
        return { res, ms: Date.now() - started };
      }),
    );
    for (const { res, ms } of answers) {
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('2');
      expect(res.json()).toEqual({
        success: false,
        error: {
          code: 'VIGIL_ERR_KAFKA_UNAVAILABLE',
          message: expect.stringMatching(
            new RegExp(
              '^Kafka (did not acknowledge within 1500 ms|refused the write: .*); ' +
                'retry later \\(records that carry the same ids are stored once\\)$',
            ),
          ),
        },
      });
      expect(ms).toBeLessThan(ANSWER_BOUND_MS);
    }
    // OTLP/HTTP: 503 with a Retry-After an SDK honours within its export timeout, a google.rpc.Status body.
    const otlp = await api.app.inject({
      method: 'POST',
      url: '/v1/logs',
      headers: { authorization: `Bearer ${ctx.token('user')}`, 'content-type': 'application/json' },
      payload: { resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'during' } }] }] }] },
    });
    expect(otlp.statusCode).toBe(503);
    expect(otlp.headers['retry-after']).toBe('2');
    expect(otlp.json()).toEqual({ code: 14, message: expect.stringMatching(/^VIGIL_ERR_KAFKA_UNAVAILABLE: Kafka /) });
    // Still bounded on a later request, once the client has noticed the broker is gone.
    const later = Date.now();
    expect((await post('later')).statusCode).toBe(503);
    expect(Date.now() - later).toBeLessThan(ANSWER_BOUND_MS);
    const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);

    await startBroker(broker);
    const back = Date.now();
    let recovered = null;
    while (Date.now() - back < 60_000) {
      const res = await post('after');
      expect([202, 503]).toContain(res.statusCode);
      if (res.statusCode === 202) {
        recovered = Date.now() - back;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(recovered, 'the gateway accepts again within 60 s of the broker coming back').not.toBeNull();
    console.log(`gateway recovered ${recovered} ms after the broker was back`);

    const records = await readTopic(ctx.kafkajs, ctx.config.kafka.topics.events);
    const sources = unbundle(records, loadCodecs().get('EventBundle')!).map((t) => t.item.source);
    expect(sources).toContain('before');
    expect(sources).toContain('after');
  }, 170_000);
});
