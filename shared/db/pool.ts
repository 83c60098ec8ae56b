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

/**
 * Runs `work` in one transaction on a client of `pool` (or on `client`, already checked out by the caller, who
 * keeps it): COMMIT when it resolves, ROLLBACK when it throws (the error is rethrown as is). A pool's client whose
 * ROLLBACK fails is discarded rather than returned to the pool.
 */
export async function inTransaction<T>(
  db: pg.Pool | pg.PoolClient,
  work: (client: pg.PoolClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  const given = 'release' in db ? db : null;
  const client = given ?? (await (db as pg.Pool).connect());
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw error;
  } finally {
    if (!given) client.release(broken);
  }
}
