/**
 * Brings the local stack up once for the integration and fault projects (the broker is reused when already
 * running). Tests never use the default database or topics: each file gets its own (test/helpers/context.ts).
 */
import { loadConfig } from '../shared/config.ts';
import { ensureKafka, ensurePostgres } from '../infra/stack.ts';

export default async function setup(): Promise<void> {
  const config = loadConfig(process.env);
  const log = (line: string) => console.error(`[test setup] ${line}`);
  await ensureKafka(config, log);
  await ensurePostgres(config, log);
}
