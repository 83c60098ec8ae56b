/**
 * Hosts the configured roles in one process: shared clients (Kafka, PostgreSQL pool, metrics registry), each
 * role's routes on one HTTP app, and an orderly stop (stop accepting requests, drain producers and consumers,
 * close the pool). bin/vigil.ts runs it; integration tests run it with their own configuration.
 *
 * Order: the roles are built (the gateway's producer connected, rules loaded), then — with `listen` — the HTTP
 * port is bound, and only then do the roles join their consumer groups (RoleHandle.start), in the background:
 * a port already in use fails the start before any partition is taken from the members that serve, and ingest
 * answers while the groups wait for a crashed member's session to expire. `started` settles once every role
 * has joined; without `listen` (tests, benches) startRuntime waits for it.
 */
import type { FastifyInstance } from 'fastify';
import { AuditLog } from '../shared/audit/audit-log.ts';
import type { Config } from '../shared/config.ts';
import { createPool, type Pool } from '../shared/db/pool.ts';
import { buildApp } from '../shared/http/app.ts';
import { createKafka } from '../shared/kafka/client.ts';
import type { Logger } from '../shared/logger.ts';
import { createRegistry, type Registry } from '../shared/metrics.ts';
import type { RoleHandle } from '../shared/role.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { startGateway } from '../services/gateway/index.ts';
import { startQuery } from '../services/query/index.ts';
import { startWriter } from '../services/writer/index.ts';
import { startMaintenance } from '../services/maintenance/index.ts';
import { startAlerter } from '../services/alerter/index.ts';
import { startIncidents } from '../services/incidents/index.ts';

export interface Runtime {
  app: FastifyInstance;
  /** Settles once every role's start() did (rejects with the first failure). */
  started: Promise<void>;
  pool: Pool;
  registry: Registry;
  roles: RoleHandle[];
  audit: AuditLog;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  /** Bind the HTTP port before the roles join their consumer groups, and do not wait for the joins. */
  listen?: { host: string; port: number };
}

export async function startRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  const registry = createRegistry(config.roles);
  const kafka = createKafka(config.kafka, logger, config.roles.join('-'));
  const pool = createPool(config.database.url, config.database.poolMax, `vigil-${config.roles.join('-')}`);
  const codecs = loadCodecs();
  const audit = new AuditLog(pool, logger.child({ module: 'audit' }), registry, config.audit.flushIntervalMs);
  const roles: RoleHandle[] = [];
  try {
    if (config.roles.includes('writer')) {
      roles.push(await startWriter({ config, logger, kafka, pool, codecs, registry }));
    }
    if (config.roles.includes('gateway')) roles.push(await startGateway({ config, logger, kafka, codecs, registry }));
    if (config.roles.includes('query')) roles.push(await startQuery({ config, logger }));
    if (config.roles.includes('maintenance')) roles.push(await startMaintenance({ config, logger, pool, registry }));
    if (config.roles.includes('alerter'))
      roles.push(await startAlerter({ config, logger, kafka, pool, codecs, registry }));
    // Incidents are no role of their own: routes with query, the worker with query or alerter
    // (services/incidents/index.ts).
    if (config.roles.includes('query') || config.roles.includes('alerter')) {
      roles.push(await startIncidents({ config, logger, routes: config.roles.includes('query'), registry }));
    }
  } catch (error) {
    await stopAll(roles, pool, logger);
    throw error;
  }
  let app: FastifyInstance | undefined;
  try {
    app = await buildApp({
      logger,
      auth: config.auth,
      registry,
      routes: roles.flatMap((r) => r.routes),
      readiness: Object.assign({}, ...roles.map((r) => r.readiness)),
      readinessByRole: Object.fromEntries(roles.map((r) => [r.name, Object.keys(r.readiness)])),
      audit,
    });
    audit.start();
    if (options.listen) await app.listen(options.listen);
  } catch (error) {
    await app?.close();
    await stopAll(roles, pool, logger);
    throw error;
  }
  const started = startRoles(roles);
  started.catch(() => {}); // the caller decides what a failed join means; never an unhandled rejection
  if (!options.listen) {
    try {
      await started;
    } catch (error) {
      await app.close();
      await stopAll(roles, pool, logger);
      throw error;
    }
  }
  const http = app;
  return {
    app,
    started,
    pool,
    registry,
    roles,
    audit,
    async stop() {
      await http.close(); // stops accepting; waits for in-flight requests
      await audit.stop(); // writes what the last requests recorded
      await stopAll(roles, pool, logger);
    },
  };
}

/** Every role's start(), side by side: the writer's join need not wait for the alerter's. */
async function startRoles(roles: readonly RoleHandle[]): Promise<void> {
  await Promise.all(roles.map((role) => role.start?.()));
}

async function stopAll(roles: RoleHandle[], pool: Pool, logger: Logger): Promise<void> {
  for (const role of roles) {
    try {
      await role.stop();
    } catch (error) {
      logger.warn({ err: error, role: role.name }, 'role did not stop cleanly');
    }
  }
  await pool.end();
}
