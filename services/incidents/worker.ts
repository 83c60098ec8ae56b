/**
 * The incidents worker: every INCIDENTS_POLL_MS it applies pending alert transitions (automation.ts) and runs the
 * analysis of incidents that opened since (once each: incidents.analysis_due, claimed with SKIP LOCKED so several
 * workers share the work and none runs an analysis twice). Each step is one transaction; a failure is logged and
 * retried at the next poll. stop() waits for the step under way.
 */
import type { Pool } from '../../shared/db/pool.ts';
import type { Logger } from '../../shared/logger.ts';
import { Counter, Histogram, type Registry } from '../../shared/metrics.ts';
import { ANALYST_ACTOR } from '../../shared/auth/identity.ts';
import { analyse, storeAnalysis } from './analysis/run.ts';
import { applyInbox, BATCH, type AutomationOptions } from './automation.ts';
import type { ExpensiveWork } from './expensive.ts';
import { inTransaction } from './sql.ts';
import { addEntries, COLUMNS, type IncidentRow } from './store.ts';

const ANALYSES_PER_POLL = 5;
const ANALYST = ANALYST_ACTOR;

/** The worker's Prometheus metrics (labels bounded: outcome only). */
export interface IncidentWorkerMetrics {
  transitions: Counter;
  analyses: Counter<'outcome'>;
  roundFailures: Counter;
  roundSeconds: Histogram;
}

export function createIncidentWorkerMetrics(registry: Registry): IncidentWorkerMetrics {
  return {
    transitions: new Counter({
      name: 'vigil_incidents_transitions_applied_total',
      help: 'Alert transitions taken from the inbox and applied to incidents',
      registers: [registry],
    }),
    analyses: new Counter({
      name: 'vigil_incidents_analyses_total',
      help: 'Automatic root-cause analyses, by outcome (stored, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    roundFailures: new Counter({
      name: 'vigil_incidents_worker_failures_total',
      help: 'Worker rounds that failed (retried at the next poll)',
      registers: [registry],
    }),
    roundSeconds: new Histogram({
      name: 'vigil_incidents_worker_round_seconds',
      help: 'Duration of one worker round: the inbox drained, then the due analyses',
      // biome-ignore lint/style/noMagicNumbers: histogram bucket bounds
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
  };
}

export class IncidentWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  private readonly pool: Pool;
  private readonly expensive: ExpensiveWork;

  /** `pool` for the inbox and bookkeeping; analyses take a slot of `expensive` (shared with the API's analyses). */
  constructor(
    db: { pool: Pool; expensive: ExpensiveWork },
    private readonly logger: Logger,
    private readonly pollMs: number,
    private readonly metrics: IncidentWorkerMetrics,
    private readonly automation: AutomationOptions = { groupWindowMs: 0 },
  ) {
    this.pool = db.pool;
    this.expensive = db.expensive;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.pollMs);
  }

  /** One round: drain the inbox, then the due analyses. Overlapping calls share the round under way. */
  poll(): Promise<void> {
    this.running ??= this.timedRound().finally(() => (this.running = null));
    return this.running;
  }

  private async timedRound(): Promise<void> {
    const done = this.metrics.roundSeconds.startTimer();
    try {
      await this.round();
    } catch (error) {
      this.metrics.roundFailures.inc();
      this.logger.warn({ err: error }, 'incident worker round failed; retrying at the next poll');
    } finally {
      done();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async round(): Promise<void> {
    for (;;) {
      const { taken } = await inTransaction(this.pool, (client) => applyInbox(client, this.automation));
      this.metrics.transitions.inc(taken);
      if (taken < BATCH) break;
    }
    for (let i = 0; i < ANALYSES_PER_POLL; i++) {
      if (!(await this.analyseOne())) break;
    }
  }

  private async analyseOne(): Promise<boolean> {
    let claimed: string | undefined;
    try {
      const analysed = await this.expensive.forWorker((client) =>
        inTransaction(client, async () => {
          const { rows } = await client.query<IncidentRow>(
            `SELECT ${COLUMNS} FROM incidents WHERE analysis_due ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
          );
          if (rows.length === 0) return false;
          claimed = rows[0].id;
          const analysis = await analyse(client, rows[0], 'open');
          await storeAnalysis(client, analysis, ANALYST);
          await client.query('UPDATE incidents SET analysis_due = false WHERE id = $1', [rows[0].id]);
          return true;
        }),
      );
      if (analysed) this.metrics.analyses.inc({ outcome: 'stored' });
      return analysed;
    } catch (error) {
      if (claimed === undefined) throw error; // the claim itself failed: the round fails and is retried
      this.metrics.analyses.inc({ outcome: 'failed' });
      // Not retried forever: the incident that failed is marked analysed with an entry saying why; GET …/analysis
      // can ask again.
      this.logger.warn({ err: error, incident_id: claimed }, 'automatic incident analysis failed');
      const id = claimed;
      await inTransaction(this.pool, async (client) => {
        const { rowCount } = await client.query(
          'UPDATE incidents SET analysis_due = false WHERE id = $1 AND analysis_due',
          [id],
        );
        if (rowCount)
          await addEntries(client, id, [
            {
              actor: ANALYST,
              kind: 'analysis',
              message:
                `root-cause analysis failed: ${(error as Error).message}; ask again with GET ` +
                `…/analysis?recompute=true`,
            },
          ]);
      });
      return false;
    }
  }
}
