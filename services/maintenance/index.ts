/**
 * The maintenance role: runs a maintenance pass (services/maintenance/maintenance.ts) at start() and then every
 * MAINTENANCE_INTERVAL_SECONDS. A failed pass is logged and counted, and the next one tries again; stop() waits
 * for a running pass to finish.
 */
import type { Config } from '../../shared/config.ts';
import type { Pool } from '../../shared/db/pool.ts';
import type { Logger } from '../../shared/logger.ts';
import { Counter, Gauge, type Registry } from '../../shared/metrics.ts';
import type { RoleHandle } from '../../shared/role.ts';
import { NotReadyError } from '../../shared/http/readiness.ts';
import { runMaintenance } from './maintenance.ts';

import { MS_PER_SECOND } from '../../shared/units.ts';

export interface MaintenanceDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  registry: Registry;
}

export async function startMaintenance(deps: MaintenanceDeps): Promise<RoleHandle> {
  const { config, pool } = deps;
  const logger = deps.logger.child({ role: 'maintenance' });
  const metrics = {
    runs: new Counter({
      name: 'vigil_maintenance_runs_total',
      help: 'Maintenance passes by outcome (ran, skipped: another instance holds the lock, failed)',
      labelNames: ['outcome'],
      registers: [deps.registry],
    }),
    dropped: new Counter({
      name: 'vigil_maintenance_partitions_dropped_total',
      help: 'Partitions dropped past retention',
      registers: [deps.registry],
    }),
    created: new Counter({
      name: 'vigil_maintenance_partitions_created_total',
      help: 'Partitions created ahead of time',
      registers: [deps.registry],
    }),
    lastSuccess: new Gauge({
      name: 'vigil_maintenance_last_success_seconds',
      help: 'Unix time of the last maintenance pass that ran to completion',
      registers: [deps.registry],
    }),
  };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let lastError: Error | undefined;

  async function pass(): Promise<void> {
    try {
      const report = await runMaintenance(pool, config);
      lastError = undefined;
      metrics.runs.inc({ outcome: report.ran ? 'ran' : 'skipped' });
      if (!report.ran) return;
      metrics.created.inc(report.created.length);
      metrics.dropped.inc(report.dropped.length);
      metrics.lastSuccess.set(Date.now() / MS_PER_SECOND);
      if (report.created.length + report.dropped.length + report.deferred.length + report.auditRowsDeleted > 0) {
        const { created, dropped, deferred, auditRowsDeleted } = report;
        logger.info({ created, dropped, deferred, audit_rows_deleted: auditRowsDeleted }, 'maintenance pass');
      }
    } catch (error) {
      lastError = error as Error;
      metrics.runs.inc({ outcome: 'failed' });
      logger.warn({ err: error }, 'maintenance pass failed; retrying at the next interval');
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass().finally(schedule);
    }, config.maintenance.intervalSeconds * MS_PER_SECOND);
    timer.unref();
  }

  return {
    name: 'maintenance',
    routes: [],
    // The first pass runs once the host serves HTTP: its DDL has nothing to do with answering requests.
    start: async () => {
      running = pass().finally(schedule);
      await running;
    },
    readiness: {
      maintenance: async () => {
        if (lastError) throw new NotReadyError('the last maintenance pass failed', { cause: lastError });
      },
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
