/**
 * Why the writer is paused, for /readyz and the retries metric. A partition whose batch failed is paused: it keeps
 * its batch and retries it with backoff, nothing is dead-lettered and no offset moves; the partition is listed here
 * with the cause of its last failure until it stores again (or is handed to another member at a rebalance).
 * The causes are fixed sentences, safe on the public /readyz; the errors themselves are logged by the pipeline.
 */
import { classifyPgError, type DbCondition } from '../../shared/db/errors.ts';
import { MissingPartitionError } from './copy-writer.ts';

/** Thrown by the batch store when Kafka did not acknowledge the batch's dead letters. */
export class DeadLetterUnavailableError extends Error {
  constructor(cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`the dead-letter topic did not acknowledge the batch's dead letters: ${reason}`, { cause });
    this.name = 'DeadLetterUnavailableError';
  }
}

export type PauseCause = DbCondition | 'missing_partition' | 'dead_letters' | 'unexpected';

const SENTENCES: Record<PauseCause, string> = {
  connection: 'PostgreSQL is unreachable',
  shutdown: 'PostgreSQL is shutting down or starting',
  resources: 'PostgreSQL is out of a resource (disk full, out of memory or too many connections)',
  contention: 'PostgreSQL aborted the batch on a conflict with another transaction',
  canceled: 'PostgreSQL canceled the batch (statement timeout)',
  read_only: 'PostgreSQL refuses writes: the database is read-only (a standby, or default_transaction_read_only)',
  permission: "PostgreSQL denies the writer's role a privilege it needs (a missing GRANT)",
  server_fault: 'PostgreSQL reports an internal or I/O error',
  login: "PostgreSQL refuses the writer's login or database",
  missing_partition: 'a time partition is missing; creating it',
  dead_letters: 'Kafka does not acknowledge dead letters',
  unexpected: 'a batch failed with an unexpected error',
};

/** Transient database conditions keep the metric label they always had. */
const TRANSIENT = new Set<PauseCause>(['connection', 'shutdown', 'resources', 'contention', 'canceled']);
/** Database conditions that last until someone acts. */
const OPERATOR = new Set<PauseCause>(['read_only', 'permission', 'server_fault', 'login']);

export function pauseCauseOf(error: unknown): PauseCause {
  if (error instanceof MissingPartitionError) return 'missing_partition';
  if (error instanceof DeadLetterUnavailableError) return 'dead_letters';
  const found = classifyPgError(error);
  return found.kind === 'unavailable' ? found.condition : 'unexpected';
}

/** The `kind` label of vigil_writer_retries_total (bounded: one per cause). */
export function retryKind(cause: PauseCause): string {
  if (TRANSIENT.has(cause)) return 'database_unavailable';
  if (OPERATOR.has(cause)) return `database_${cause}`;
  return cause === 'unexpected' ? 'other' : cause;
}

export class WriterStatus {
  private readonly paused = new Map<string, PauseCause>();

  pause(partitionKey: string, cause: PauseCause): void {
    this.paused.set(partitionKey, cause);
  }

  resume(partitionKey: string): void {
    this.paused.delete(partitionKey);
  }

  /** Null when no partition is paused; otherwise one public sentence saying how many are paused and why. */
  describe(): string | null {
    if (this.paused.size === 0) return null;
    const causes = [...new Set(this.paused.values())].map((cause) => SENTENCES[cause]);
    const partitions = this.paused.size === 1 ? '1 partition' : `${this.paused.size} partitions`;
    return `paused on ${partitions}, retrying with backoff: ${causes.join('; ')}`;
  }
}
