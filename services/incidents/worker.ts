/**
 * The incidents worker: every INCIDENTS_POLL_MS it applies pending alert transitions (automation.ts) and runs the
 * analysis of incidents that opened since (once each: incidents.analysis_due, claimed with SKIP LOCKED so several
 * workers share the work and none runs an analysis twice). Each step is one transaction; a failure is logged and
 * retried at the next poll. stop() waits for the step under way.
 */
import type { Pool } from '../../shared/db/pool.ts';
import type { Logger } from '../../shared/logger.ts';
import { analyse, storeAnalysis } from './analysis/run.ts';
import { applyInbox, BATCH } from './automation.ts';
import { inTransaction } from './sql.ts';
import { addEntries, COLUMNS, type IncidentRow } from './store.ts';

const ANALYSES_PER_POLL = 5;
const ANALYST = 'vigil';

export class IncidentWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly pool: Pool, private readonly logger: Logger, private readonly pollMs: number) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.pollMs);
  }

  /** One round: drain the inbox, then the due analyses. Overlapping calls share the round under way. */
  poll(): Promise<void> {
    this.running ??= this.round()
      .catch((error) => this.logger.warn({ err: error }, 'incident worker round failed; retrying at the next poll'))
      .finally(() => (this.running = null));
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async round(): Promise<void> {
    for (;;) {
      const { taken } = await inTransaction(this.pool, (client) => applyInbox(client));
      if (taken < BATCH) break;
    }
    for (let i = 0; i < ANALYSES_PER_POLL; i++) {
      if (!(await this.analyseOne())) break;
    }
  }

  private async analyseOne(): Promise<boolean> {
    try {
      return await this.claimAndAnalyse();
    } catch (error) {
      // Not retried forever: the incident is marked analysed with an entry saying why; GET …/analysis can retry.
      this.logger.warn({ err: error }, 'automatic incident analysis failed');
      await inTransaction(this.pool, async (client) => {
        const { rows } = await client.query<{ id: string }>(
          'UPDATE incidents SET analysis_due = false WHERE id = (SELECT id FROM incidents WHERE analysis_due ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id',
        );
        if (rows[0]) await addEntries(client, rows[0].id, [{ actor: ANALYST, kind: 'analysis', message: `root-cause analysis failed: ${(error as Error).message}; ask again with GET …/analysis?recompute=true` }]);
      });
      return false;
    }
  }

  private async claimAndAnalyse(): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<IncidentRow>(
        `SELECT ${COLUMNS} FROM incidents WHERE analysis_due ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      if (rows.length === 0) return false;
      const analysis = await analyse(client, rows[0], 'open');
      await storeAnalysis(client, analysis, ANALYST);
      await client.query('UPDATE incidents SET analysis_due = false WHERE id = $1', [rows[0].id]);
      return true;
    });
  }
}
