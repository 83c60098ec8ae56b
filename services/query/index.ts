/**
 * The query service: the contract's read API over PostgreSQL (events, metrics, stats, Prometheus exposition), and the
 * web console at /console/ (console.ts).
 * Stateless apart from the background fold of metric series (series-fold.ts), which any number of replicas may
 * run (one folds at a time). It has its own connection pool, so slow queries never take the writer's connections,
 * and every statement on it is bounded by QUERY_STATEMENT_TIMEOUT_MS.
 */
import { createPool } from '../../shared/db/pool.ts';
import type { RoleDeps, RoleHandle } from '../../shared/role.ts';
import { latestMigrationVersion } from '../../shared/db/migrate.ts';
import { NotReadyError } from '../../shared/http/readiness.ts';
import { ensureConsoleBundle } from '../../shared/http/console-bundle.ts';
import { auditRoutes } from './audit.ts';
import { consoleRoutes } from './console.ts';
import { eventByIdRoutes } from './event-by-id.ts';
import { eventRoutes } from './events.ts';
import { metricRoutes } from './metric-queries.ts';
import { prometheusRoutes } from './prometheus.ts';
import { promqlRoutes } from './promql-api.ts';
import { MAX_SAMPLES } from './promql-data.ts';
import { startFoldLoop, type FoldLoop } from './series-fold.ts';
import { ingestRoute } from './stats-ingest.ts';
import { statsRoutes } from './stats.ts';
import { traceRoutes } from './traces.ts';

import { BYTES_PER_MIB, MS_PER_SECOND } from '../../shared/units.ts';

export type QueryDeps = Pick<RoleDeps, 'config' | 'logger' | 'registry'>;

export interface QueryHandle extends RoleHandle {
  fold: FoldLoop;
}

export async function startQuery({ config, logger, registry }: QueryDeps): Promise<QueryHandle> {
  const bundle = await ensureConsoleBundle();
  const pool = createPool(
    withSessionSettings(config.database.url, config.query.statementTimeoutMs),
    config.database.poolMax,
    'vigil-query',
  );
  const fold = startFoldLoop(pool, logger, {
    intervalMs: config.query.foldIntervalSeconds * MS_PER_SECOND,
    retentionDays: config.storage.metricRetentionDays,
  });
  const latest = latestMigrationVersion();
  return {
    name: 'query',
    fold,
    routes: [
      eventRoutes(pool, { messageSearchMaxHours: config.query.messageSearchMaxHours }),
      eventByIdRoutes(pool, config.ingest.futureGraceSeconds * MS_PER_SECOND),
      metricRoutes(pool, { windowMs: config.rateLimits.windowMs, metricStep: config.rateLimits.metricStep }),
      prometheusRoutes(pool),
      promqlRoutes(
        pool,
        { maxSamples: MAX_SAMPLES, hourCacheBytes: config.query.hourCacheMb * BYTES_PER_MIB },
        registry,
      ),
      statsRoutes(pool),
      ingestRoute(pool),
      auditRoutes(pool),
      traceRoutes(pool),
      consoleRoutes(bundle),
    ],
    readiness: {
      postgres: async () => void (await pool.query('SELECT 1')),
      migrations: async () => {
        const { rows } = await pool.query<{ version: number | null }>(
          'SELECT max(version) AS version FROM schema_migrations',
        );
        const version = rows[0]?.version ?? 0;
        if (version < latest) {
          const cause = new Error(`database at migration ${version}, code expects ${latest}`);
          throw new NotReadyError('migrations are pending: the database schema is older than this version', { cause });
        }
      },
    },
    stop: async () => {
      await fold.stop();
      await pool.end();
    },
  };
}

/**
 * The URL with session settings added to its startup options, so every session of the pool has them:
 * statement_timeout bounds each statement; jit=off because compiling a plan took ~0.9 s of a 1.2 s scrape on the
 * benchmark's tables, while the API's statements are short index scans and small aggregates that JIT cannot speed up.
 */
export function withSessionSettings(databaseUrl: string, timeoutMs: number): string {
  const url = new URL(databaseUrl);
  const options = url.searchParams.get('options');
  url.searchParams.set(
    'options',
    `${options ? `${options} ` : ''}-c statement_timeout=${Math.floor(timeoutMs)} -c jit=off`,
  );
  return url.toString();
}
