/**
 * Remote-write with its broker stopped: 503 + Retry-After within the produce deadline (Prometheus retries a 5xx; a
 * 4xx or 429 would make it drop the batch), and the same batch is accepted once the broker is back. A private
 * broker (temp dir, free ports, the shared jars), so the broker every other test uses is never touched.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../../bin/runtime.ts';
import { startBroker, stopBroker, type BrokerOptions } from '../../../infra/kafka/broker.ts';
import { loadConfig } from '../../../shared/config.ts';
import { createTestContext, type TestContext } from '../../../test/helpers/context.ts';
import { REMOTE_WRITE_HEADERS, remoteWriteBody } from './encode.ts';

const PRODUCE_TIMEOUT_MS = 1500;
const ANSWER_BOUND_MS = PRODUCE_TIMEOUT_MS + 1500;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('remote-write with Kafka stopped', () => {
  let broker: BrokerOptions;
  let ctx: TestContext;
  let api: Runtime;

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-remote-write-fault-'));
    fs.symlinkSync(path.join(loadConfig(process.env).kafka.local.dir, 'lib'), path.join(dir, 'lib'));
    broker = { dir, port: await freePort(), controllerPort: await freePort(), heapMb: 512, log: () => {} };
    await startBroker(broker);
    ctx = await createTestContext({ KAFKA_BROKERS: `127.0.0.1:${broker.port}`, KAFKA_TOPIC_PARTITIONS: '1' });
    api = await ctx.start('gateway', { INGEST_PRODUCE_TIMEOUT_MS: String(PRODUCE_TIMEOUT_MS) });
  });

  afterAll(async () => {
    await startBroker(broker).catch(() => {});
    await ctx?.cleanup();
    await stopBroker(broker);
    fs.rmSync(broker.dir, { recursive: true, force: true });
  });

  const body = remoteWriteBody({
    timeseries: [{ labels: { __name__: 'rw_fault' }, samples: [{ value: 1, timestamp: Date.now() - 1000 }] }],
  });
  const write = () =>
    api.app.inject({
      method: 'POST',
      url: '/api/v1/write',
      headers: { ...REMOTE_WRITE_HEADERS, authorization: `Bearer ${ctx.token('user')}` },
      payload: body,
    });

  it('answers 503 + Retry-After within the deadline, then 204 for the same batch once the broker is back', async () => {
    expect((await write()).statusCode).toBe(204);
    await stopBroker(broker);
    const started = Date.now();
    const refused = await write();
    expect(Date.now() - started).toBeLessThan(ANSWER_BOUND_MS);
    expect([refused.statusCode, refused.headers['retry-after'], refused.json().error.code]).toEqual([
      503,
      '2',
      'VIGIL_ERR_KAFKA_UNAVAILABLE',
    ]);

    await startBroker(broker);
    const back = Date.now();
    let status = 0;
    while (Date.now() - back < 60_000) {
      status = (await write()).statusCode;
      expect([204, 503]).toContain(status);
      if (status === 204) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(204);
  }, 170_000);
});
