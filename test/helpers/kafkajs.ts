/**
 * KafkaJS, for tests and benchmarks that play a client outside vigil: a direct producer with Kafka's default
 * partitioner, an independent reader of a topic, an admin checking what the broker holds. vigil itself uses
 * `@platformatic/kafka` only (shared/kafka), so these also check that another client reads and writes what vigil does.
 */
import { Kafka, logLevel } from 'kafkajs';

export function kafkajsClient(brokers: readonly string[], clientId = 'vigil-test'): Kafka {
  return new Kafka({
    clientId,
    brokers: [...brokers],
    connectionTimeout: 3000,
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 5 },
    logLevel: logLevel.NOTHING,
  });
}
