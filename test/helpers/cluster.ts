/**
 * Config for tests on a private replicated Kafka cluster (infra/kafka/broker.ts startKafkaCluster): vigil's topics
 * named after `topic`, created as a deployment on three brokers creates them (replication factor 3,
 * min.insync.replicas 2).
 */
import { loadConfig, type Config } from '../../shared/config.ts';

export function replicatedConfig(brokers: readonly string[], topic: string, partitions: number): Config {
  return loadConfig({
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC_EVENTS: topic,
    KAFKA_TOPIC_METRICS: `${topic}.m`,
    KAFKA_TOPIC_DLQ: `${topic}.dlq`,
    KAFKA_TOPIC_PARTITIONS: String(partitions),
    KAFKA_REPLICATION_FACTOR: '3',
    KAFKA_MIN_INSYNC_REPLICAS: '2',
  });
}
