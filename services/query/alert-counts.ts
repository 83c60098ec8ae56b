/**
 * The two figures of /stats and the exposition that belong to other services' tables. active_alerts = firing
 * instances in alert_instances (infra/migrations/0003, the alerter's states). open_incidents = incidents neither
 * resolved nor closed; until its migration creates the `incidents` table the count is 0 (`to_regclass`
 * tells without failing), and the owner of that table adjusts the predicate here if its columns differ.
 */
import type { Pool } from '../../shared/db/pool.ts';
import { run } from './sql.ts';

export async function activeAlertCount(pool: Pool): Promise<number> {
  const [{ n }] = await run<{ n: string }>(pool, "SELECT count(*) AS n FROM alert_instances WHERE state = 'firing'");
  return Number(n);
}

export async function openIncidentCount(pool: Pool): Promise<number> {
  const [{ present }] = await run<{ present: boolean }>(pool, "SELECT to_regclass('incidents') IS NOT NULL AS present");
  if (!present) return 0;
  const [{ n }] = await run<{ n: string }>(
    pool,
    "SELECT count(*) AS n FROM incidents WHERE status NOT IN ('resolved', 'closed')",
  );
  return Number(n);
}
