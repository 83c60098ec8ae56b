/**
 * The only module that constructs Kafka clients. The Kafka handle the roles share is KafkaJS's (consumers, admin);
 * producers are `@platformatic/kafka`'s (record-producer.ts), built from the settings createKafka() records for the
 * handle (`producerSettingsOf`). KafkaJS log entries are forwarded to pino, and its retry policy is kept short so
 * that callers (which have their own deadlines and backoff) see failures promptly.
 */
import { Kafka, logLevel, type logCreator } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { ProducerSettings } from './record-producer.ts';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

function pinoLogCreator(logger: Logger): logCreator {
  return () =>
    ({ level, log }) => {
      const { message, ...extra } = log;
      // KafkaJS logs every reconnect attempt at ERROR; they are expected during broker restarts.
      const pinoLevel = LEVELS[level] === 'error' ? 'warn' : (LEVELS[level] ?? 'info');
      logger[pinoLevel]({ kafka: extra }, message);
    };
}

const CONNECT_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 30_000;
const producerSettings = new WeakMap<Kafka, ProducerSettings>();

export function createKafka(config: Config['kafka'], logger: Logger, role: string): Kafka {
  const clientId = `${config.clientId}-${role}`;
  const kafka = new Kafka({
    clientId,
    brokers: [...config.brokers],
    connectionTimeout: CONNECT_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 5 },
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(logger.child({ component: 'kafkajs' })),
  });
  producerSettings.set(kafka, {
    clientId,
    brokers: config.brokers,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  });
  return kafka;
}

/** The brokers and timeouts a producer for this handle uses (the handle must come from createKafka). */
export function producerSettingsOf(kafka: Kafka): ProducerSettings {
  const settings = producerSettings.get(kafka);
  if (settings === undefined) throw new Error('a producer needs a Kafka handle made by createKafka()');
  return settings;
}

export type { Kafka } from 'kafkajs';
