/**
 * Idempotency of producer-chosen ids (infra/migrations/0012): before the COPY, inside the batch's transaction, the
 * writer claims in ingest_ids every id a producer chose (id_given) and keeps only the rows whose claim is new; the
 * others (a resend already stored, whatever its timestamp, or a repeat within the batch) are duplicates. Rows with
 * generated ids skip this entirely: a batch without producer-chosen ids runs no statement here.
 * Claims are written in one COPY when none exists yet (the common case), else by INSERT … ON CONFLICT DO NOTHING,
 * which tells the new ones. Either way they are inserted in id order, so two writers claiming overlapping ids take
 * the row locks in the same order (the second waits for the first to commit, then sees the claim) and cannot
 * deadlock. A row PostgreSQL then refuses releases its claim (releaseGivenIds), so that a corrected resend is not
 * mistaken for a duplicate.
 */
import { SQLSTATE, sqlState } from '../../shared/db/errors.ts';
import type { PoolClient } from '../../shared/db/pool.ts';
import { copyText } from './copy-writer.ts';

export type IdKind = 'event' | 'metric';

export interface Claimed<T> {
  fresh: T[];
  duplicates: T[];
}

/**
 * Thrown when the one-COPY claim met an id claimed already: the transaction is aborted, and the caller stores the
 * batch again in a new one, claiming with `afterConflict` (INSERT … ON CONFLICT).
 */
export class ClaimConflict extends Error {
  constructor() {
    super('a producer-chosen id of the batch is claimed already');
  }
}

/** Claims the producer-chosen ids of the batch, in its transaction; may throw ClaimConflict (see above). */
export async function claimGivenIds<T>(
  client: PoolClient,
  kind: IdKind,
  rows: T[],
  givenId: (row: T) => string | null,
  afterConflict = false,
): Promise<Claimed<T>> {
  const first = new Map<string, T>();
  const duplicates: T[] = [];
  for (const row of rows) {
    const id = givenId(row);
    if (id === null) continue;
    if (first.has(id)) duplicates.push(row);
    else first.set(id, row);
  }
  if (first.size === 0) return { fresh: rows, duplicates };
  const ids = [...first.keys()].sort();
  const fresh = afterConflict ? await insertClaims(client, kind, ids) : await copyClaims(client, kind, ids);
  const left = new Set<T>(duplicates);
  for (const [id, row] of first) {
    if (!fresh.has(id)) {
      duplicates.push(row);
      left.add(row);
    }
  }
  return { fresh: left.size === 0 ? rows : rows.filter((row) => !left.has(row)), duplicates };
}

/**
 * The fast path: one COPY of every claim, which succeeds when none of the ids is claimed yet (resends are rare).
 * When one is (a unique violation), ClaimConflict: the transaction is rolled back and the batch stored again by the
 * slower path (cheaper than a savepoint around every COPY: two round trips fewer per batch).
 */
async function copyClaims(client: PoolClient, kind: IdKind, ids: string[]): Promise<Set<string>> {
  let text = '';
  for (const id of ids) text += `${kind}\t${id}\n`;
  try {
    await copyText(client, 'ingest_ids', 'kind, id', text);
    return new Set(ids);
  } catch (error) {
    if (sqlState(error) === SQLSTATE.UNIQUE_VIOLATION) throw new ClaimConflict();
    throw error;
  }
}

async function insertClaims(client: PoolClient, kind: IdKind, ids: string[]): Promise<Set<string>> {
  const { rows } = await client.query<{ id: string }>(
    'INSERT INTO ingest_ids (kind, id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING id',
    [kind, ids],
  );
  return new Set(rows.map((r) => r.id));
}

/** Releases the claims of rows that were not stored after all (refused by PostgreSQL). */
export async function releaseGivenIds(client: PoolClient, kind: IdKind, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await client.query('DELETE FROM ingest_ids WHERE kind = $1 AND id = ANY($2::uuid[])', [kind, ids]);
}
