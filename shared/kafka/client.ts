/**
 * The handle through which the roles reach Kafka: the brokers, timeouts and client id every client of a process
 * uses. All of vigil's Kafka clients are `@platformatic/kafka`'s — producers
 * (record-producer.ts), the consumers (consumer.ts) and the admin client (`withAdmin`, used by topics.ts and
 * offsets.ts) — each built from these settings. Retries are short: callers have their own deadlines and backoff.
 */
import { Admin } from '@platformatic/kafka';
import type { Config } from '../config.ts';

export interface ClientSettings {
  clientId: string;
  brokers: readonly string[];
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

export interface Kafka {
  readonly settings: ClientSettings;
}

const CONNECT_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 30_000;
const ADMIN_RETRIES = 3;
const RETRY_DELAY_MS = 250;

export function createKafka(config: Config['kafka'], role: string): Kafka {
  return {
    settings: {
      clientId: `${config.clientId}-${role}`,
      brokers: config.brokers,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    },
  };
}

/** The options every `@platformatic/kafka` client built from `settings` shares. */
export function baseOptions(settings: ClientSettings) {
  return {
    clientId: settings.clientId,
    bootstrapBrokers: [...settings.brokers],
    connectTimeout: settings.connectTimeoutMs,
    timeout: settings.requestTimeoutMs,
    retryDelay: RETRY_DELAY_MS,
  };
}

/** Runs `work` with an admin client of its own, closed afterwards. */
export async function withAdmin<T>(kafka: Kafka, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ ...baseOptions(kafka.settings), retries: ADMIN_RETRIES });
  try {
    return await work(admin);
  } finally {
    await admin.close().catch(() => {});
  }
}
