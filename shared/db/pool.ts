/**
 * PostgreSQL pools and transactions. What a pg error means (retry, dead-letter the record, or a bug) is decided in
 * shared/db/errors.ts.
 */
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// timestamptz and bigint come back as strings; the code converts where it needs numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export function createPool(url: string, max: number, applicationName: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // Nor a checked-out client that loses it between two queries (e.g. while the writer awaits Kafka inside a
  // transaction): pg emits 'error' on the client, which is fatal without a listener. The next query on it fails
  // with a retriable error, and its holder releases it as broken.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export interface TransactionOptions {
  /** The statement that opens the transaction (e.g. with SET LOCAL settings after BEGIN). */
  begin?: string;
  /**
   * True for a failure after which the connection is not worth a ROLLBACK (the connection or the server is gone:
   * the writer's retriable errors): it is discarded instead; the transaction ends with it.
   */
  discardOn?: (error: unknown) => boolean;
}

/** Connections whose transaction could not be rolled back: release() discards them rather than pooling them. */
const unusable = new WeakSet<pg.ClientBase>();

/**
 * Runs `work` in one transaction, on a client of `pool` or on `db`, a client its caller checked out (or connected)
 * and keeps: COMMIT when it resolves, ROLLBACK when it throws (the work's error is rethrown as is). The only way
 * to run a transaction. A connection that failed to roll back, or that `discardOn` gave up, never goes back to the
 * pool: a pool's client is released as broken here; a caller's is marked, and the caller releases it with release().
 */
export async function inTransaction<T>(
  db: pg.Pool | pg.ClientBase,
  work: (client: pg.PoolClient) => Promise<T>,
  opts: TransactionOptions = {},
): Promise<T> {
  const owned = db instanceof pg.Pool ? await db.connect() : null;
  const client = (owned ?? db) as pg.PoolClient;
  let broken: Error | undefined;
  try {
    await client.query(opts.begin ?? 'BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    if (opts.discardOn?.(error)) broken = error as Error;
    else await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw error;
  } finally {
    if (owned) owned.release(broken);
    else if (broken) unusable.add(client);
  }
}

/** Returns a checked-out client to the pool, or discards it (`error`, or a transaction on it that could not end). */
export function release(client: pg.PoolClient, error?: Error): void {
  client.release(
    error ??
      (unusable.has(client) ? new Error('a transaction on this connection could not be rolled back') : undefined),
  );
}
