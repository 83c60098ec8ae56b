/**
 * The incidents module. Not a role of its own: its routes are mounted by processes running the `query`
 * role (the read-and-manage API, stateless replicas, its own pool with the query statement timeout), and its
 * worker (alert transitions → incidents, automatic analyses) runs in processes running `query` or `alerter`.
 * The worker only polls PostgreSQL and is safe to run in any number of processes (advisory lock for the
 * transitions, SKIP LOCKED for analyses), so a deployment without one of the two roles still opens incidents
 * and analyses them, and `all` needs nothing new. bin/runtime.ts hosts it.
 */
import type { Config } from '../../shared/config.ts';
import { createPool } from '../../shared/db/pool.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Registry } from '../../shared/metrics.ts';
import type { RoleHandle } from '../../shared/role.ts';
import { ExpensiveWork } from './expensive.ts';
import { incidentRoutes } from './routes.ts';
import { createIncidentWorkerMetrics, IncidentWorker } from './worker.ts';

/** The incidents API's own pool stays small: its queries are short index scans. */
const POOL_MAX_CONNECTIONS = 4;

export interface IncidentsDeps {
  config: Config;
  logger: Logger;
  /** Mount the HTTP routes (processes running the query role). */
  routes: boolean;
  registry: Registry;
}

export interface IncidentsHandle extends RoleHandle {
  worker: IncidentWorker;
}

export async function startIncidents({ config, logger, routes, registry }: IncidentsDeps): Promise<IncidentsHandle> {
  const url = withStatementTimeout(config.database.url, config.query.statementTimeoutMs);
  const pool = createPool(url, Math.min(config.database.poolMax, POOL_MAX_CONNECTIONS), 'vigil-incidents');
  // Analyses and timeline pages: their own connections, one per slot (expensive.ts).
  const { expensiveConcurrency, expensiveQueue } = config.incidents;
  const expensivePool = createPool(url, expensiveConcurrency, 'vigil-incidents-expensive');
  const expensive = new ExpensiveWork(expensivePool, expensiveConcurrency, expensiveQueue);
  const metrics = createIncidentWorkerMetrics(registry);
  const workerLogger = logger.child({ module: 'incidents' });
  const worker = new IncidentWorker({ pool, expensive }, workerLogger, config.incidents.pollMs, metrics, {
    groupWindowMs: config.incidents.groupWindowMs,
  });
  worker.start();
  const limits = { windowMs: config.rateLimits.windowMs, recompute: config.rateLimits.recompute };
  return {
    name: 'incidents',
    worker,
    routes: routes ? [incidentRoutes({ pool, expensive, limits })] : [],
    readiness: {},
    stop: async () => {
      await worker.stop();
      await pool.end();
      await expensivePool.end();
    },
  };
}

/**
 * Every session of the pool bounded by the query statement timeout; jit off as in the query role (short index scans).
 */
function withStatementTimeout(databaseUrl: string, timeoutMs: number): string {
  const url = new URL(databaseUrl);
  const options = url.searchParams.get('options');
  url.searchParams.set(
    'options',
    `${options ? `${options} ` : ''}-c statement_timeout=${Math.floor(timeoutMs)} -c jit=off`,
  );
  return url.toString();
}
