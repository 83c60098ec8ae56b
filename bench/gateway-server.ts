/**
 * The servers measured by bench/gateway.ts, each run as a child process so that it has a core of its own:
 *   bare     a Fastify route that only parses the JSON body (Fastify's default parser) and answers 202: the ceiling
 *   gateway  the vigil gateway role (auth, validation, redaction, Avro, acks=all produce) on its own bench topics
 * Protocol over IPC: sends { port } when listening; on disconnect closes (and deletes its topics).
 */
import crypto from 'node:crypto';
import Fastify from 'fastify';
import { startRuntime } from '../bin/runtime.ts';
import { loadConfig } from '../shared/config.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';
import { createLogger } from '../shared/logger.ts';

const mode = process.argv[2];
if (mode !== 'bare' && mode !== 'gateway') throw new Error('usage: gateway-server.ts bare|gateway');

let close: () => Promise<void>;
let port: number;
if (mode === 'bare') {
  const app = Fastify({ logger: false, bodyLimit: 5 * 1024 * 1024 });
  for (const path of ['events', 'metrics']) {
    app.post(`/api/v1/monitoring/${path}`, async (request, reply) => {
      const body = request.body as unknown[] | Record<string, unknown>;
      return reply.status(202).send({ success: true, data: { accepted: Array.isArray(body) ? body.length : 1 } });
    });
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
  close = () => app.close();
} else {
  const id = crypto.randomBytes(4).toString('hex');
  const config = loadConfig({
    ...process.env,
    VIGIL_ROLES: 'gateway',
    PORT: '0',
    LOG_LEVEL: 'warn',
    KAFKA_TOPIC_EVENTS: `bench.${id}.events`,
    KAFKA_TOPIC_METRICS: `bench.${id}.metrics`,
    KAFKA_TOPIC_DLQ: `bench.${id}.dlq`,
  });
  const logger = createLogger(config.logLevel, 'bench-gateway');
  const kafka = createKafka(config.kafka, 'bench');
  // A freshly created topic's leaders may still be moving on a busy machine: try again rather than give up.
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureTopics(kafka, config.kafka);
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const runtime = await startRuntime(config, logger);
  await runtime.app.listen({ port: 0, host: '127.0.0.1' });
  port = (runtime.app.server.address() as { port: number }).port;
  close = async () => {
    await runtime.stop();
    await deleteTopics(kafka, [config.kafka.topics.events, config.kafka.topics.metrics, config.kafka.topics.dlq]);
  };
}
process.send!({ port });
process.on('disconnect', async () => {
  await close();
  process.exit(0);
});
