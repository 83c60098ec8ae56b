/**
 * The only module that constructs KafkaJS clients. KafkaJS log entries are forwarded to pino, and its retry
 * policy is kept short so that callers (which have their own deadlines and backoff) see failures promptly.
 */
import { Kafka, logLevel, type logCreator } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';

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

export function createKafka(config: Config['kafka'], logger: Logger, role: string): Kafka {
  return new Kafka({
    clientId: `${config.clientId}-${role}`,
    brokers: [...config.brokers],
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 5 },
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(logger.child({ component: 'kafkajs' })),
  });
}

export type { Kafka } from 'kafkajs';
