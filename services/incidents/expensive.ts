/**
 * The incidents module's expensive reads — root-cause analyses (automatic and `recompute=true`) and timeline pages
 * — run on PostgreSQL connections of their own, at most INCIDENTS_EXPENSIVE_CONCURRENCY at once per process, so
 * however many of them are asked for, the incident list, reads and updates (and the query role's pool) keep their
 * connections and PostgreSQL keeps cores for them. Each holder of a slot uses exactly one connection, so the pool
 * (sized to the slots) never makes anyone wait: waiting happens in the limiter's queue, bounded for requests by
 * INCIDENTS_EXPENSIVE_QUEUE (beyond it 429 + Retry-After at once, instead of a growing queue of stalled
 * requests); the worker waits its turn.
 */
import { release, type Pool, type PoolClient } from '../../shared/db/pool.ts';
import { VigilError } from '../../shared/errors.ts';
import { Limiter } from '../../shared/limiter.ts';
import { translate } from './sql.ts';

const RETRY_AFTER_SECONDS = 2;

export class ExpensiveWork {
  private readonly limiter: Limiter;

  constructor(
    private readonly pool: Pool,
    private readonly slots: number,
    maxWaiting: number,
  ) {
    this.limiter = new Limiter(slots, maxWaiting);
  }

  /** For a request: runs `work` on a connection of its own once a slot is free; 429 when the queue is full. */
  async forRequest<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    if (!(await this.limiter.tryAcquire())) {
      throw new VigilError(
        'VIGIL_ERR_RATE_LIMITED',
        `${this.limiter.running} analyses or timeline pages are running and ${this.limiter.queued} waiting ` +
          `on this process; retry after ${RETRY_AFTER_SECONDS} s`,
        undefined,
        RETRY_AFTER_SECONDS,
      );
    }
    return this.holding(work);
  }

  /** For the worker: waits for a slot however long the queue. */
  async forWorker<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    await this.limiter.acquire();
    return this.holding(work);
  }

  private async holding<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    try {
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        throw translate(error);
      }
      try {
        return await work(client);
      } finally {
        release(client);
      }
    } finally {
      this.limiter.release();
    }
  }

  get capacity(): number {
    return this.slots;
  }
}
