/** Config and Kafka client on fresh, randomly named topics for a benchmark run; cleanup() deletes them. */
import crypto from 'node:crypto';
import { loadConfig, type Config } from '../shared/config.ts';
import { createKafka, type Kafka } from '../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../shared/kafka/topics.ts';

export async function benchTopics(name: string): Promise<{ config: Config; kafka: Kafka; cleanup(): Promise<void> }> {
  const id = crypto.randomBytes(4).toString('hex');
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: 'warn',
    KAFKA_TOPIC_EVENTS: `bench.${id}.events`,
    KAFKA_TOPIC_METRICS: `bench.${id}.metrics`,
    KAFKA_TOPIC_DLQ: `bench.${id}.dlq`,
  });
  const kafka = createKafka(config.kafka, name);
  await ensureTopics(kafka, config.kafka);
  const { events, metrics, dlq } = config.kafka.topics;
  return { config, kafka, cleanup: () => deleteTopics(kafka, [events, metrics, dlq]) };
}

/** The contract's example event (docs/contract.md) as the gateway receives it, from 10 sources (or `sources`). */
export function contractEvent(i: number, sources = 10) {
  return {
    event_type: 'log',
    source: `web-server-${i % sources}`,
    message: 'Request processed successfully',
    level: 'info',
    tags: { service: 'api', environment: 'production', request_id: `req-${i}` },
    payload: { duration_ms: 245, path: '/api/users', status: 200 },
  };
}
