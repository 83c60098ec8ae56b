/**
 * The query service: the seed's read API over PostgreSQL. Stateless; scale by running more replicas.
 */
import type { Pool } from '../../shared/db/pool.ts';
import type { RoleHandle } from '../../shared/role.ts';
import { latestMigrationVersion } from '../../shared/db/migrate.ts';
import { eventRoutes } from './events.ts';

export interface QueryDeps {
  pool: Pool;
}

export async function startQuery(deps: QueryDeps): Promise<RoleHandle> {
  const latest = latestMigrationVersion();
  return {
    name: 'query',
    routes: [eventRoutes(deps.pool)],
    readiness: {
      postgres: async () => void (await deps.pool.query('SELECT 1')),
      migrations: async () => {
        const { rows } = await deps.pool.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
        if ((rows[0]?.version ?? 0) < latest) throw new Error(`database at migration ${rows[0]?.version ?? 0}, code expects ${latest}`);
      },
    },
    stop: async () => {},
  };
}
