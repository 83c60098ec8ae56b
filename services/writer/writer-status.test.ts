import { describe, expect, it } from 'vitest';
import { MissingPartitionError } from './copy-writer.ts';
import { DeadLetterUnavailableError, pauseCauseOf, retryKind, WriterStatus } from './writer-status.ts';

const pgError = (code: string) => Object.assign(new Error(`server error ${code}`), { code });

describe('writer pause causes', () => {
  it('names the cause of a failed batch and its retries label', () => {
    const cases: [unknown, string, string][] = [
      [pgError('53100'), 'resources', 'database_unavailable'], // disk full
      [pgError('08006'), 'connection', 'database_unavailable'],
      [pgError('25006'), 'read_only', 'database_read_only'],
      [pgError('42501'), 'permission', 'database_permission'],
      [pgError('XX001'), 'server_fault', 'database_server_fault'],
      [new MissingPartitionError('events', new Error('no partition')), 'missing_partition', 'missing_partition'],
      [new DeadLetterUnavailableError(new Error('broker down')), 'dead_letters', 'dead_letters'],
      [pgError('42703'), 'unexpected', 'other'],
      [new TypeError('bug'), 'unexpected', 'other'],
    ];
    for (const [error, cause, kind] of cases) {
      expect(pauseCauseOf(error), String(error)).toBe(cause);
      expect(retryKind(pauseCauseOf(error))).toBe(kind);
    }
  });

  it('describes the paused partitions with fixed sentences until they store again', () => {
    const status = new WriterStatus();
    expect(status.describe()).toBeNull();
    status.pause('events:0', 'read_only');
    expect(status.describe()).toBe(
      'paused on 1 partition, retrying with backoff: ' +
        'PostgreSQL refuses writes: the database is read-only (a standby, or default_transaction_read_only)',
    );
    status.pause('events:1', 'resources');
    status.pause('events:0', 'read_only');
    expect(status.describe()).toBe(
      'paused on 2 partitions, retrying with backoff: ' +
        'PostgreSQL refuses writes: the database is read-only (a standby, or default_transaction_read_only); ' +
        'PostgreSQL is out of a resource (disk full, out of memory or too many connections)',
    );
    status.resume('events:0');
    status.resume('events:1');
    expect(status.describe()).toBeNull();
  });
});
