import { describe, expect, it } from 'vitest';
import { classifyPgError, databaseError, isRecordError, isRetriablePgError } from './errors.ts';

/** An error shaped like the pg driver's: a server error carries its SQLSTATE in `code`. */
function pgError(code: string, message = `server error ${code}`): Error {
  return Object.assign(new Error(message), { code, severity: 'ERROR' });
}

describe('classifyPgError', () => {
  it.each([
    ['53100', 'resources', 'could not extend file "base/16384/16385": No space left on device'], // disk_full
    ['53200', 'resources', 'out of memory'],
    ['53300', 'resources', 'sorry, too many clients already'],
    ['53400', 'resources', 'configuration limit exceeded'],
    ['25006', 'read_only', 'cannot execute COPY in a read-only transaction'],
    ['42501', 'permission', 'permission denied for table events'],
    ['08006', 'connection', 'connection failure'],
    ['57P01', 'shutdown', 'terminating connection due to administrator command'],
    ['57014', 'canceled', 'canceling statement due to statement timeout'],
    ['40001', 'contention', 'could not serialize access'],
    ['40P01', 'contention', 'deadlock detected'],
    ['58030', 'server_fault', 'could not write to file'],
    ['XX001', 'server_fault', 'invalid page in block'],
    ['3D000', 'login', 'database "vigil" does not exist'],
    ['28P01', 'login', 'password authentication failed'],
  ])('SQLSTATE %s is an outage (%s), never the record', (code, condition, message) => {
    expect(classifyPgError(pgError(code, message))).toEqual({ kind: 'unavailable', condition });
    expect(isRecordError(pgError(code, message))).toBe(false);
  });

  it('treats the whole class 53 as resources, whatever the code within it', () => {
    expect(classifyPgError(pgError('53999'))).toEqual({ kind: 'unavailable', condition: 'resources' });
  });

  it.each([
    ['22P02', 'invalid input syntax for type json'],
    ['22P05', 'unsupported Unicode escape sequence'],
    ['22001', 'value too long for type character varying(255)'],
    ['22003', 'numeric field overflow'],
    ['23502', 'null value in column "source" violates not-null constraint'],
    ['23505', 'duplicate key value violates unique constraint'],
    ['23514', 'no partition of relation "events" found for row'],
    ['54000', 'index row requires 9000 bytes, maximum size is 8191'],
  ])('SQLSTATE %s is about the record (%s)', (code, message) => {
    expect(classifyPgError(pgError(code, message))).toEqual({ kind: 'record' });
    expect(isRecordError(pgError(code, message))).toBe(true);
    expect(isRetriablePgError(pgError(code, message))).toBe(false);
  });

  it.each([
    ['42703', 'column "nope" of relation "events" does not exist'],
    ['42601', 'syntax error at or near "COPY"'],
    ['42P01', 'relation "events" does not exist'],
    ['0A000', 'feature not supported'],
  ])('SQLSTATE %s is a bug: neither an outage nor the record', (code, message) => {
    expect(classifyPgError(pgError(code, message))).toEqual({ kind: 'bug' });
  });

  it('classifies connection failures the driver reports without a SQLSTATE', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']) {
      const error = Object.assign(new Error(`connect ${code}`), { code });
      expect(classifyPgError(error)).toEqual({ kind: 'unavailable', condition: 'connection' });
    }
    const messages = [
      'Connection terminated unexpectedly',
      'timeout exceeded when trying to connect',
      'Client has encountered a connection error and is not queryable',
    ];
    for (const message of messages) {
      expect(classifyPgError(new Error(message))).toEqual({ kind: 'unavailable', condition: 'connection' });
    }
    expect(classifyPgError(new TypeError('x is undefined'))).toEqual({ kind: 'bug' });
    expect(classifyPgError('a string')).toEqual({ kind: 'bug' });
    expect(classifyPgError(null)).toEqual({ kind: 'bug' });
  });
});

describe('isRetriablePgError and databaseError (request paths)', () => {
  it('retries what passes by itself: connection, shutdown, resources (a full disk), contention, cancel', () => {
    for (const code of ['08006', '57P01', '57014', '53100', '53200', '40001', 'ECONNREFUSED']) {
      expect(isRetriablePgError(pgError(code)), code).toBe(true);
    }
    for (const code of ['25006', '42501', '3D000', '28P01', '58030', '22P02', '23505', '42703', '55P03']) {
      expect(isRetriablePgError(pgError(code)), code).toBe(false);
    }
  });

  it('answers 503 VIGIL_ERR_DATABASE_UNAVAILABLE for a retriable failure and passes the others through', () => {
    const unavailable = { code: 'VIGIL_ERR_DATABASE_UNAVAILABLE', status: 503, retryAfterSeconds: 2 };
    expect(databaseError(pgError('53100'))).toMatchObject(unavailable);
    const bug = pgError('42703');
    expect(databaseError(bug)).toBe(bug);
  });
});
