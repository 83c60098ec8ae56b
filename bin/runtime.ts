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
 *
 * With `listen` and the gateway among the roles, the gateway comes first: it is built and the port bound with an
 * app of its routes alone (the other roles' checks on /readyz say `<role>: starting`, their paths answer 503
 * VIGIL_ERR_NOT_READY with Retry-After), and the other roles' modules are imported and built after that, in the
 * background; the server then passes every request to the app of all the roles. So ingest does not wait for the
 * modules of roles it does not need (measured: bench/README.md "Restart after a crash").
 */
import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { AuditLog } from '../shared/audit/audit-log.ts';
import type { Config } from '../shared/config.ts';
import { createPool, type Pool } from '../shared/db/pool.ts';
import { VigilError } from '../shared/errors.ts';
import { notFound } from '../shared/http/error-handler.ts';
import { type AppOptions, buildApp } from '../shared/http/app.ts';
import { NotReadyError, type ReadinessCheck } from '../shared/http/readiness.ts';
import { createKafka } from '../shared/kafka/client.ts';
import type { Logger } from '../shared/logger.ts';
import { createRegistry, type Registry } from '../shared/metrics.ts';
import type { RoleDeps, RoleHandle } from '../shared/role.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';

export interface Runtime {
  /** The app of every role (while the other roles are still loading behind a listening gateway: the gateway's). */
  readonly app: FastifyInstance;
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

type Shared = RoleDeps;

/** Seconds a client is asked to wait (Retry-After) for a path whose role is still loading. */
const STARTING_RETRY_AFTER_SECONDS = 1;

/**
 * Builds the configured roles other than the gateway, importing each role's modules only now. Incidents are no role
 * of their own: routes with query, the worker with query or alerter (services/incidents/index.ts).
 */
async function buildOtherRoles(deps: Shared, roles: RoleHandle[]): Promise<void> {
  const { config, logger, registry } = deps;
  const has = (role: Config['roles'][number]) => config.roles.includes(role);
  if (has('writer')) roles.push(await (await import('../services/writer/index.ts')).startWriter(deps));
  if (has('query'))
    roles.push(await (await import('../services/query/index.ts')).startQuery({ config, logger, registry }));
  if (has('maintenance')) roles.push(await (await import('../services/maintenance/index.ts')).startMaintenance(deps));
  if (has('alerter')) roles.push(await (await import('../services/alerter/index.ts')).startAlerter(deps));
  if (has('query') || has('alerter')) {
    const { startIncidents } = await import('../services/incidents/index.ts');
    roles.push(await startIncidents({ config, logger, routes: has('query'), registry }));
  }
}

/** The roles configured but not built yet, each as a failing readiness check of its name: `<role>: starting`. */
function startingChecks(config: Config, built: readonly RoleHandle[]): Record<string, ReadinessCheck> {
  const names = new Set<string>(config.roles);
  if (config.roles.includes('query') || config.roles.includes('alerter')) names.add('incidents');
  for (const role of built) names.delete(role.name);
  const starting = (name: string) => async () => {
    throw new NotReadyError(`${name}: starting`);
  };
  return Object.fromEntries([...names].map((name) => [name, starting(name)]));
}

/** A path the gateway does not serve, while the other roles load: 503 with Retry-After. */
const stillStarting = () =>
  new VigilError(
    'VIGIL_ERR_NOT_READY',
    'this process is still starting the role that serves this path; retry shortly',
    undefined,
    STARTING_RETRY_AFTER_SECONDS,
  );

export async function startRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  const registry = createRegistry(config.roles);
  const kafka = createKafka(config.kafka, config.roles.join('-'));
  const pool = createPool(config.database.url, config.database.poolMax, `vigil-${config.roles.join('-')}`);
  const codecs = loadCodecs();
  const audit = new AuditLog(pool, logger.child({ module: 'audit' }), registry, config.audit.flushIntervalMs);
  const deps: Shared = { config, logger, kafka, pool, codecs, registry };
  const roles: RoleHandle[] = [];
  const appOf = (
    built: readonly RoleHandle[],
    more: Pick<AppOptions, 'serverFactory' | 'unmatched'> & { readiness?: Record<string, ReadinessCheck> },
  ) => {
    const readinessByRole = Object.fromEntries(built.map((r) => [r.name, Object.keys(r.readiness)]));
    for (const name of Object.keys(more.readiness ?? {})) readinessByRole[name] = [name];
    return buildApp({
      logger,
      auth: config.auth,
      registry,
      routes: built.flatMap((r) => r.routes),
      readiness: Object.assign({}, ...built.map((r) => r.readiness), more.readiness),
      readinessByRole,
      audit,
      serverFactory: more.serverFactory,
      unmatched: more.unmatched,
    });
  };

  // With `listen` and a gateway, the port is bound with the gateway's app before the other roles are loaded; the
  // server passes each request to the app of every role once that one is ready (`serving`).
  const gatewayFirst = options.listen !== undefined && config.roles.includes('gateway');
  let early: FastifyInstance | undefined;
  let app: FastifyInstance | undefined;
  let serving: FastifyInstance | undefined;
  /** The other roles are still being built (their paths answer 503 meanwhile). */
  let loading = gatewayFirst;
  try {
    if (config.roles.includes('gateway')) {
      roles.push(await (await import('../services/gateway/index.ts')).startGateway(deps));
    }
    if (gatewayFirst) {
      early = await appOf(roles, {
        readiness: startingChecks(config, roles),
        unmatched: (request) => (loading ? stillStarting() : notFound(request)),
        serverFactory: (handler) =>
          http.createServer((request, response) => {
            if (serving === undefined) handler(request, response);
            else serving.routing(request, response);
          }),
      });
      audit.start();
      await early.listen(options.listen);
    }
  } catch (error) {
    await early?.close();
    await stopAll(roles, pool, logger);
    throw error;
  }

  const complete = async (): Promise<void> => {
    const before = roles.length;
    await buildOtherRoles(deps, roles);
    if (early && roles.length === before) return; // the gateway alone: its app is the whole app
    app = await appOf(roles, {});
    if (early) {
      await app.ready();
      serving = app;
      return;
    }
    audit.start();
    if (options.listen) await app.listen(options.listen);
  };
  let built: Promise<void>;
  if (gatewayFirst) {
    built = complete().finally(() => {
      loading = false;
    });
  } else {
    try {
      await complete();
    } catch (error) {
      await app?.close();
      await stopAll(roles, pool, logger);
      throw error;
    }
    built = Promise.resolve();
  }
  const started = built.then(() => startRoles(roles));
  started.catch(() => {}); // the caller decides what a failed start means; never an unhandled rejection
  if (!options.listen) {
    try {
      await started;
    } catch (error) {
      await app?.close();
      await stopAll(roles, pool, logger);
      throw error;
    }
  }
  return {
    get app() {
      return (serving ?? early ?? app) as FastifyInstance;
    },
    started,
    pool,
    registry,
    roles,
    audit,
    async stop() {
      await built.catch(() => {}); // the roles still being built are stopped too
      await early?.close(); // stops accepting; waits for in-flight requests
      await app?.close();
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
