/**
 * Stores one batch of one partition in ONE transaction: the claims of producer-chosen ids (given-ids.ts: a resend
 * of an id already stored is a duplicate), the rows (COPY), the dead letters acknowledged by Kafka,
 * the rollup counters of the rows actually stored, and the partition's offset advanced from `expected` to `next`.
 * All or nothing: a crash anywhere before COMMIT leaves PostgreSQL as it was, and the batch is read again.
 * Order inside the transaction: the long COPY first, the shared rollup counters last, so that row locks other
 * writers may wait for are held only for the instant before COMMIT.
 * Only a row's content dead-letters that row (copy-writer.ts); any other failure rolls back and is thrown, for the
 * pipeline to retry the whole batch. Dead letters Kafka acknowledged in a failed attempt are not written again
 * when the same batch is retried (`lettersSent`).
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import type { DeadLetter, DeadLetterWriter } from '../../shared/kafka/dlq.ts';
import { isRetriablePgError } from '../../shared/db/errors.ts';
import { inTransaction, type Pool } from '../../shared/db/pool.ts';
import type { PartitionCache } from '../../shared/db/partitions.ts';
import { copyIsolating, rowKey } from './copy-writer.ts';
import { rowId, type CopyRows } from './copy-format.ts';
import { ClaimConflict, claimGivenIds, releaseGivenIds } from './given-ids.ts';
import type { OffsetStore } from './offset-store.ts';
import { seriesKey, type Admission, type SeriesLimit } from './series-limit.ts';
import { RollupBatch } from './rollups.ts';
import type { Sink, SinkLetter, SinkRow } from './sinks.ts';
import type { WriterMetrics } from './writer-metrics.ts';
import { DeadLetterUnavailableError } from './writer-status.ts';

import { secondsSince } from '../../shared/units.ts';

/** A fetched record with its outcome: the rows of its items to store and the dead letters of the rest. */
export interface Entry {
  record: ConsumedRecord;
  rows: SinkRow[];
  dead: SinkLetter[];
}

export interface StoreRequest {
  sink: Sink;
  partition: number;
  entries: Entry[];
  /** The bytes of the entries' rows. */
  batch: CopyRows;
  expected: bigint | null;
  next: bigint;
  /** Keys (letterKey) of this batch's dead letters already acknowledged by Kafka in an earlier attempt. */
  lettersSent: Set<string>;
}

export interface StoreResult {
  stored: number;
  duplicates: number;
  dead: DeadLetter[];
}

export interface BatchStoreDeps {
  pool: Pool;
  partitions: PartitionCache;
  offsets: OffsetStore;
  dlq: DeadLetterWriter;
  metrics: WriterMetrics;
  /** METRICS_MAX_SERIES_PER_NAME for the metrics table; null: no limit. */
  seriesLimit: SeriesLimit | null;
}

export async function storeBatch(deps: BatchStoreDeps, req: StoreRequest): Promise<StoreResult> {
  const { sink, partition, entries } = req;
  const rows: SinkRow[] = [];
  const dead: DeadLetter[] = [];
  for (const { record, rows: items, dead: letters } of entries) {
    for (const row of items) rows.push(row);
    for (const { reason, detail, item } of letters)
      dead.push({ record, topic: sink.topic, partition, reason, detail, item });
  }
  const timestamps = rows.map((r) => r.timestamp);
  await deps.partitions.ensureFor(sink.table, timestamps);
  await deps.partitions.ensureFor('rollups', timestamps);
  try {
    return await storeOnce(deps, req, rows, dead, false);
  } catch (error) {
    if (!(error instanceof ClaimConflict)) throw error;
    // Rolled back, the series registrations with it: all of it is done again, claiming the slower way.
    return storeOnce(deps, req, rows, dead, true);
  }
}

/**
 * One attempt at the batch's transaction. A retriable error (the connection or the server is gone) discards the
 * connection without a ROLLBACK; any other failure rolls back. Either way it is thrown, and nothing was stored.
 */
async function storeOnce(
  deps: BatchStoreDeps,
  req: StoreRequest,
  batchRows: SinkRow[],
  batchDead: DeadLetter[],
  afterConflict: boolean,
): Promise<StoreResult> {
  const { sink, partition, batch } = req;
  // A stored row's primary key, for telling duplicates (copy-writer.ts): made only on that path.
  const keyOf = (row: SinkRow): string => rowKey(row.timestamp, rowId(batch, row.start));
  let rows = batchRows;
  const dead = [...batchDead];
  let began = process.hrtime.bigint();
  const done = await inTransaction(
    deps.pool,
    async (client) => {
      began = process.hrtime.bigint();
      let admission: Admission | null = null;
      if (deps.seriesLimit && sink.table === 'metrics') {
        admission = await deps.seriesLimit.admit(
          client,
          rows.flatMap((r) => (r.series ? [r.series] : [])),
        );
        if (admission.refused.size > 0)
          rows = refuseSeries(rows, admission.refused, deps.seriesLimit.maxPerName, (row, detail) =>
            dead.push({
              record: row.record,
              topic: sink.topic,
              partition,
              reason: 'series_limit',
              detail,
              item: sink.alone(row),
            }),
          );
      }
      const kind = sink.table === 'events' ? 'event' : 'metric';
      const claimed = await claimGivenIds(client, kind, rows, (r) => r.givenId, afterConflict);
      const target = { table: sink.table, columns: sink.columns };
      const outcome = await copyIsolating(client, target, batch, claimed.fresh, keyOf);
      deps.metrics.copySeconds.observe({ table: sink.table }, secondsSince(began));
      const released: string[] = [];
      for (const { row: refused, error } of outcome.rejected) {
        if (refused.givenId !== null) released.push(refused.givenId);
        dead.push({
          record: refused.record,
          topic: sink.topic,
          partition,
          reason: 'rejected_by_database',
          detail: error.message,
          item: sink.alone(refused),
        });
      }
      await releaseGivenIds(client, kind, released);
      const unsent = dead.filter((letter) => !req.lettersSent.has(letterKey(letter)));
      await deps.dlq.write(unsent).catch((error: unknown) => Promise.reject(new DeadLetterUnavailableError(error)));
      for (const letter of unsent) req.lettersSent.add(letterKey(letter));
      const duplicates = [...claimed.duplicates, ...outcome.duplicates];
      const notStored = new Set<SinkRow>([...outcome.rejected.map((r) => r.row), ...duplicates]);
      const rollups = new RollupBatch(partition);
      for (const row of rows) if (!notStored.has(row)) rollups.add(row.timestamp, row.rollup);
      await rollups.upsert(client);
      await deps.offsets.advance(client, sink.topic, partition, req.expected, req.next);
      return { admission, stored: rows.length - notStored.size, duplicates: duplicates.length };
    },
    { discardOn: isRetriablePgError },
  );
  if (done.admission) deps.seriesLimit!.remember(done.admission.registered);
  deps.metrics.commitSeconds.observe({ table: sink.table }, secondsSince(began));
  return { stored: done.stored, duplicates: done.duplicates, dead };
}

/** A dead letter's identity within its batch: the record's offset, the item's index, the reason. */
function letterKey(letter: DeadLetter): string {
  return `${letter.record.offset}|${letter.item?.index ?? -1}|${letter.reason}`;
}

/** The rows of series the limit refused become dead letters (their detail names the metric); the others are kept. */
function refuseSeries(
  rows: SinkRow[],
  refused: Map<string, number>,
  limit: number,
  letter: (row: SinkRow, detail: string) => void,
): SinkRow[] {
  const kept: SinkRow[] = [];
  for (const row of rows) {
    const series = row.series;
    const count = series === undefined ? undefined : refused.get(seriesKey(series));
    if (count === undefined) {
      kept.push(row);
      continue;
    }
    letter(
      row,
      `metric ${JSON.stringify(series!.name)} already has ${count} series, the limit ` +
        `METRICS_MAX_SERIES_PER_NAME=${limit}: samples of a new label set are not stored`,
    );
  }
  return kept;
}
