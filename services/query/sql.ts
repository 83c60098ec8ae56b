/**
 * The query routes' SQL plumbing: every value is a bound parameter (no string concatenation of input), and
 * pg failures become the domain errors of shared/errors.ts: retriable → 503, the statement timeout → 503 naming it.
 */
import { databaseError, isQueryCanceled } from '../../shared/db/errors.ts';
import { inTransaction, type Pool, type PoolClient } from '../../shared/db/pool.ts';
import { VigilError } from '../../shared/errors.ts';

/** Collects WHERE clauses with numbered placeholders: `where.add('source = ?', value)`. */
export class Where {
  readonly values: unknown[] = [];
  private readonly clauses: string[] = [];

  /** Binds each `?` in `sql` to the next value, in order. */
  add(sql: string, ...values: unknown[]): this {
    let i = 0;
    this.clauses.push(sql.replace(/\?/g, () => this.param(values[i++])));
    return this;
  }

  /** A placeholder for `value`, for use outside WHERE (LIMIT, SELECT list). */
  param(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  toString(): string {
    return this.clauses.length ? `WHERE ${this.clauses.join(' AND ')}` : '';
  }
}

/** `%value%` for ILIKE, with the pattern characters of the value escaped. */
export function containsPattern(value: string): string {
  return `%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Planner settings for one statement (SET LOCAL in its own transaction). The one in use: `enable_sort: 'off'` for
 * newest-first listings, whose filters on tags and message text the planner cannot estimate (it assumes 0.5% per
 * tag, so two tags look like a few dozen rows of a day and it picks a scan of the whole range plus a sort, 150 ms
 * and up on a 1.4M-row day, where walking the (timestamp, id) or (source, timestamp) index newest first stops
 * after the page: ~1–3 ms). Every listing has such an ordered path, so turning sorts off only tips the choice.
 * `work_mem` for statements that group a known, bounded number of rows (PromQL loading, promql-data.ts); `jit`
 * off where a generic estimate would compile a statement that reads few rows (PromQL's per-minute loading).
 */
/** One SQL statement with its parameters. */
export interface Statement {
  sql: string;
  values: unknown[];
}

export type PlannerSettings = Partial<Record<'enable_sort' | 'jit', 'on' | 'off'> & Record<'work_mem', `${number}MB`>>;

function settingsSql(settings?: PlannerSettings): string {
  return Object.entries(settings ?? {})
    .map(([name, value]) => `; SET LOCAL ${name} = '${value}'`)
    .join('');
}

/** The domain error of a failed statement: the statement timeout named, the rest as shared/db/errors.ts decides. */
function statementError(error: unknown): Error {
  if (isQueryCanceled(error)) {
    return new VigilError(
      'VIGIL_ERR_QUERY_TIMEOUT',
      'the query ran longer than QUERY_STATEMENT_TIMEOUT_MS and was cancelled; narrow the time range or add ' +
        'filters (source, name)',
    );
  }
  return databaseError(error);
}

export async function run<R extends object>(
  pool: Pool,
  sql: string,
  values: unknown[] = [],
  settings?: PlannerSettings,
): Promise<R[]> {
  try {
    if (!settings) return (await pool.query<R>(sql, values)).rows;
    return await inTransaction(pool, async (client) => (await client.query<R>(sql, values)).rows, {
      begin: `BEGIN${settingsSql(settings)}`,
    });
  } catch (error) {
    throw statementError(error);
  }
}

/** What pg_export_snapshot() returns: hex groups and dashes (checked before it is spliced into SQL). */
const SNAPSHOT_ID = /^[0-9A-F]+(-[0-9A-F]+)+$/i;

/** Runs statements in the session's snapshot, at once on two connections where a second is at hand. */
export type SnapshotRun = <R extends object>(statements: Statement[]) => Promise<R[][]>;

/**
 * Runs read-only statements as if they were one: every statement sees the same snapshot, that of a REPEATABLE READ
 * transaction which exports it (pg_export_snapshot) to a second connection of the pool (SET TRANSACTION SNAPSHOT),
 * so two statements run at once (PostgreSQL on two cores, and Node decodes one answer while the other streams).
 */
export async function runInSnapshot<R extends object>(
  pool: Pool,
  statements: Statement[],
  settings?: PlannerSettings,
): Promise<R[][]> {
  return withSnapshot(pool, (run) => run<R>(statements), settings);
}

/**
 * A read-only session in one snapshot: `body` may run statements in several rounds (the second chosen from the
 * first one's answers) and every round sees the data as it was when the session began. The first connection
 * exports its snapshot at the first round of two or more statements; a second connection, once the pool gives one
 * and it has imported the snapshot, takes statements from every round alongside. A session never waits for a
 * second connection: when the pool has none free, the first runs every statement (and the second, arriving later,
 * is released unused), so a busy pool cannot deadlock sessions holding one connection each. The exporting
 * transaction stays open until the second has imported its snapshot, as PostgreSQL requires. Rounds run one at a
 * time.
 */
export async function withSnapshot<T>(
  pool: Pool,
  body: (run: SnapshotRun) => Promise<T>,
  settings?: PlannerSettings,
): Promise<T> {
  interface Job {
    statement: Statement;
    done: (rows: object[]) => void;
    failed: (error: unknown) => void;
  }
  const queue: Job[] = [];
  const take = async (client: PoolClient) => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const { sql, values } = job.statement;
      try {
        job.done((await client.query(sql, values)).rows);
      } catch (error) {
        job.failed(error);
        throw error;
      }
    }
  };
  const begin = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';
  let open = true;
  // The second connection: requested at the first parallel round, idle between rounds (woken by `wake`).
  let second: Promise<void> | null = null;
  let imported: Promise<unknown> | null = null;
  let wake: (() => void) | null = null;
  const join = (id: string) =>
    pool.connect().then(async (helper) => {
      // Checked as the connection arrives: the exporting transaction is still open.
      if (!open) return helper.release();
      let broken: Error | undefined;
      try {
        imported = helper.query(`${begin}; SET TRANSACTION SNAPSHOT '${id}'${settingsSql(settings)}`);
        await imported;
        while (open) {
          await take(helper);
          if (open && queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        }
        await helper.query('COMMIT');
      } catch (error) {
        await helper.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw error;
      } finally {
        helper.release(broken);
      }
    });
  try {
    return await inTransaction(
      pool,
      async (client) => {
        const run: SnapshotRun = async <R extends object>(statements: Statement[]) => {
          if (statements.length > 1 && second === null) {
            const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
            const id = rows[0].id;
            if (!SNAPSHOT_ID.test(id)) throw new Error(`pg_export_snapshot() returned ${JSON.stringify(id)}`);
            second = join(id);
            second.catch(() => {});
          }
          const answers = statements.map(
            (statement) =>
              new Promise<R[]>((done, failed) => queue.push({ statement, done: done as Job['done'], failed })),
          );
          wake?.();
          wake = null;
          const mine = take(client);
          mine.catch(() => {});
          const results = await Promise.all(answers);
          await mine;
          return results;
        };
        try {
          return await body(run);
        } finally {
          open = false;
          wake?.();
          // Keep the snapshot exported until a second connection that began importing it has done so.
          if (imported) await (imported as Promise<unknown>).catch(() => {});
        }
      },
      { begin: `${begin}${settingsSql(settings)}` },
    ).finally(async () => {
      // A second connection that arrived too late was released unused: only one that imported is awaited.
      if (imported) await (second as Promise<void> | null)?.catch(() => {});
    });
  } catch (error) {
    throw statementError(error);
  }
}
