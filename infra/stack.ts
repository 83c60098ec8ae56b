/**
 * Brings up what vigil needs on this machine, idempotently: the local Kafka broker (unless KAFKA_BROKERS points
 * elsewhere), PostgreSQL (the local server, or a private cluster when none answers and DATABASE_URL is unset),
 * the database, its migrations and the topics. Used by `npm start`, the test global setup and CI.
 */
import path from 'node:path';
import type { Config } from '../shared/config.ts';
import { ROOT_DIR } from '../shared/config.ts';
import { ensureDatabase, redact } from '../shared/db/ensure-database.ts';
import { migrate } from '../shared/db/migrate.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { ensureTopics } from '../shared/kafka/topics.ts';
import type { Logger } from '../shared/logger.ts';
import { startBroker } from './kafka/broker.ts';
import { isAccepting, initCluster, startCluster } from './postgres/cluster.ts';

export type Log = (line: string) => void;

export async function ensureKafka(config: Config, log: Log): Promise<void> {
  const local = config.kafka.local;
  if (!local.managed) {
    log(`using Kafka at ${config.kafka.brokers.join(',')} (KAFKA_BROKERS points elsewhere; no local broker started)`);
    return;
  }
  const { reused } = await startBroker({ ...local, log: (line) => log(`[kafka] ${line}`) });
  log(
    reused
      ? `Kafka broker already running on 127.0.0.1:${local.port}`
      : `Kafka broker started on 127.0.0.1:${local.port} (log: ${path.join(local.dir, 'broker.log')})`,
  );
}

export async function ensurePostgres(config: Config, log: Log): Promise<void> {
  if (config.database.isDefault && !(await isAccepting(5432))) {
    const dir = path.join(ROOT_DIR, '.pgdata');
    log(`no PostgreSQL answers on 127.0.0.1:5432; starting a private cluster in ${dir}`);
    await initCluster({ dir, port: 5432, log });
    await startCluster({ dir, port: 5432, log });
  }
  if (await ensureDatabase(config.database.url, log)) log(`created database at ${redact(config.database.url)}`);
  const applied = await migrate(config.database.url, log);
  log(applied.length ? `applied ${applied.length} migration(s)` : 'database schema is up to date');
}

export async function ensureStack(config: Config, logger: Logger): Promise<void> {
  const log: Log = (line) => logger.info(line);
  await ensureKafka(config, log);
  await ensurePostgres(config, log);
  const kafka = createKafka(config.kafka, 'setup');
  const created = await ensureTopics(kafka, config.kafka);
  if (created.length) log(`created topics ${created.join(', ')}`);
}
