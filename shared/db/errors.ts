/**
 * What a PostgreSQL failure means, in ONE place (SQLSTATE classes, Appendix A of the PostgreSQL manual):
 *
 *  - `unavailable`: a condition of the server or of the connection, never of the statement's data. Retrying the same
 *    statement later succeeds once it passes: by itself (`connection` lost or refused, `shutdown` or restart,
 *    `resources` — class 53: disk full, out of memory, too many connections —, `contention`: serialization failure,
 *    deadlock, `canceled`: statement timeout or cancel) or once an operator acts (`read_only`: a standby after a
 *    failover or `default_transaction_read_only`, `permission`: a missing grant, `server_fault`: I/O errors, corrupt
 *    data, `login`: the database or role is gone). Nothing that fails this way is the record's fault: a writer pauses
 *    and retries, it never dead-letters for it.
 *  - `record`: the content of a row — a value its column refuses (class 22: bad text, unsupported Unicode, out of
 *    range, too long), a violated constraint (class 23), a row beyond a limit (class 54: an index row too large).
 *    Only these may send a record to the dead-letter queue, and only that record.
 *  - `bug`: anything else (a syntax error, an unknown column: code and schema disagree, class 42). Neither the record
 *    nor the server is at fault; a writer pauses rather than dead-letter everything.
 *
 * `retriable` (isRetriablePgError) is the narrower set a request path retries or answers 503 for: the conditions
 * that pass by themselves (connection, shutdown, resources, contention, canceled).
 */
import { VigilError } from '../errors.ts';

/** A PostgreSQL SQLSTATE is five characters. */
const SQLSTATE_LENGTH = 5;

export type DbCondition =
  | 'connection'
  | 'shutdown'
  | 'resources'
  | 'contention'
  | 'canceled'
  | 'read_only'
  | 'permission'
  | 'server_fault'
  | 'login';

export type DbErrorClass = { kind: 'unavailable'; condition: DbCondition } | { kind: 'record' } | { kind: 'bug' };

/** SQLSTATE codes the code branches on by name. */
export const SQLSTATE = {
  UNIQUE_VIOLATION: '23505',
  CHECK_VIOLATION: '23514',
  QUERY_CANCELED: '57014',
  LOCK_NOT_AVAILABLE: '55P03',
  READ_ONLY_SQL_TRANSACTION: '25006',
  INSUFFICIENT_PRIVILEGE: '42501',
  INVALID_OBJECT_DEFINITION: '42P17',
  DISK_FULL: '53100',
  DUPLICATE_DATABASE: '42P04',
} as const;

const CONDITION_BY_CODE: Record<string, DbCondition> = {
  [SQLSTATE.READ_ONLY_SQL_TRANSACTION]: 'read_only',
  [SQLSTATE.INSUFFICIENT_PRIVILEGE]: 'permission',
  [SQLSTATE.QUERY_CANCELED]: 'canceled',
  '3D000': 'login', // invalid_catalog_name: the database does not exist (any more)
};

const CONDITION_BY_CLASS: Record<string, DbCondition> = {
  '08': 'connection',
  '28': 'login',
  '40': 'contention',
  '53': 'resources',
  '57': 'shutdown',
  '58': 'server_fault',
  XX: 'server_fault',
};

const RECORD_CLASSES = new Set(['22', '23', '54']);
const RETRIABLE_CONDITIONS = new Set<DbCondition>(['connection', 'shutdown', 'resources', 'contention', 'canceled']);
const CONNECTION_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i;

export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length === SQLSTATE_LENGTH ? code : undefined;
}

export function classifyPgError(error: unknown): DbErrorClass {
  if (!(error instanceof Error)) return { kind: 'bug' };
  const code = (error as { code?: unknown }).code;
  const connection: DbErrorClass = { kind: 'unavailable', condition: 'connection' };
  if (typeof code === 'string' && CONNECTION_NODE_CODES.has(code)) return connection;
  const state = sqlState(error);
  if (state !== undefined) {
    const condition = CONDITION_BY_CODE[state] ?? CONDITION_BY_CLASS[state.slice(0, 2)];
    if (condition) return { kind: 'unavailable', condition };
    if (RECORD_CLASSES.has(state.slice(0, 2))) return { kind: 'record' };
    return { kind: 'bug' };
  }
  if (CONNECTION_MESSAGES.test(error.message)) return connection;
  return { kind: 'bug' };
}

/** True when retrying the same statement later can succeed without anyone acting (see the header). */
export function isRetriablePgError(error: unknown): boolean {
  const found = classifyPgError(error);
  return found.kind === 'unavailable' && RETRIABLE_CONDITIONS.has(found.condition);
}

/** Only the content of a row is at fault: that row alone may be dead-lettered. */
export function isRecordError(error: unknown): boolean {
  return classifyPgError(error).kind === 'record';
}

export function isUniqueViolation(error: unknown): boolean {
  return sqlState(error) === SQLSTATE.UNIQUE_VIOLATION;
}

/** A statement timeout (or a cancel request) ended the statement. */
export function isQueryCanceled(error: unknown): boolean {
  return sqlState(error) === SQLSTATE.QUERY_CANCELED;
}

/** A lock wait ended by lock_timeout (or NOWAIT): someone else holds the object; try again later. */
export function isLockNotAvailable(error: unknown): boolean {
  return sqlState(error) === SQLSTATE.LOCK_NOT_AVAILABLE;
}

/** A row fell in a range of a partitioned table that has no partition (someone dropped it, or none was made). */
export function isMissingPartition(error: unknown): boolean {
  return sqlState(error) === SQLSTATE.CHECK_VIOLATION && /no partition of relation/.test((error as Error).message);
}

/** Maps a pg failure in a request path to the error the client sees. */
export function databaseError(error: unknown): Error {
  if (isRetriablePgError(error)) {
    return new VigilError('VIGIL_ERR_DATABASE_UNAVAILABLE', 'PostgreSQL is unavailable; retry later', undefined, 2);
  }
  return error instanceof Error ? error : new Error(String(error));
}
