/**
 * `npm start` (all roles) or `npm start -- --role gateway|writer|query[,…]`: brings up the local stack when
 * needed, runs the roles, prints where to send data, and drains on SIGINT/SIGTERM before exiting 0.
 */
import { ConfigError, loadConfig, type Config } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { ensureStack } from '../infra/stack.ts';
import { startRuntime } from './runtime.ts';
import { closeOtlp, listenOtlp } from '../services/gateway/otlp/listener.ts';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env, process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  if (config.auth.isDevSecret) {
    logger.warn(
      'JWT_SECRET is unset or a published development secret: anyone can mint tokens. Outside development set your ' +
        'own ' +
        '(`openssl rand -base64 48`); any NODE_ENV other than development or test refuses to start without one.',
    );
  }
  logger.info(`starting vigil (roles: ${config.roles.join(', ')})`);
  await ensureStack(config, logger);
  // The port is bound before any consumer group is joined (a busy port fails here, having taken nothing), and
  // ingest answers while the groups are still being joined; with the gateway, before the other roles are loaded.
  const runtime = await startRuntime(config, logger, { listen: { host: config.http.host, port: config.http.port } });
  const { host, otlpPort } = config.http;
  const servesOtlp = otlpPort !== null && config.roles.includes('gateway');
  const otlp = servesOtlp ? await listenOtlp(runtime, host, otlpPort) : null;
  console.log(banner(config));
  runtime.started.then(
    () => logger.info('every role has joined its consumer group'),
    async (error: unknown) => {
      console.error(`vigil failed to start: ${error instanceof Error ? error.message : String(error)}`);
      await runtime.stop().catch(() => {});
      process.exit(1);
    },
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting without draining`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal} received: draining in-flight work`);
    if (otlp) await closeOtlp(otlp);
    await runtime.stop();
    logger.info('stopped cleanly');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

function banner(config: Config): string {
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  const base = `http://${host}:${config.http.port}`;
  const otlpBase = config.http.otlpPort === null ? base : `http://${host}:${config.http.otlpPort}`;
  const sample = JSON.stringify({
    event_type: 'log',
    source: 'web-server',
    message: 'Request processed successfully',
    level: 'info',
    tags: { service: 'api', environment: 'production' },
    payload: { duration_ms: 245 },
  });
  const localBroker = config.kafka.local.managed ? `  (local broker, log ${config.kafka.local.dir}/broker.log)` : '';
  return `
vigil is running — roles: ${config.roles.join(', ')}
  API        ${base}/api/v1/monitoring   (health ${base}/healthz, readiness ${base}/readyz, own metrics ${base}/metrics)
  OTLP/HTTP  ${otlpBase}/v1/{logs,metrics,traces}   (header Authorization: Bearer $TOKEN; docs/otlp.md)
  Kafka      ${config.kafka.brokers.join(',')}${localBroker}
  PostgreSQL ${config.database.url.replace(/:[^:@/]+@/, ':***@')}

Get a token (roles: user, moderator, admin):
  TOKEN=$(npm run --silent token -- --role user)

Send an event:
  curl -sS -X POST ${base}/api/v1/monitoring/events -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' \\
    -d '${sample}'

Read events back (stored within about a second):
  curl -sS '${base}/api/v1/monitoring/events?source=web-server&limit=10' -H "Authorization: Bearer $TOKEN"

Stop with Ctrl-C (in-flight work is drained first).
`;
}

main().catch((error) => {
  console.error(`vigil failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
