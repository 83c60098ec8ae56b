/**
 * Benchmark: the database side of idempotent producer-chosen ids, without Kafka. Batches of 5,000 events go through
 * the writer's own transaction steps (services/writer/given-ids.ts claimGivenIds, then copy-writer.ts
 * copyIsolating, in one transaction) with a given share of producer-chosen ids; shares alternate batch by batch, so
 * the machine's noise falls on all of them alike. Reports the median rows/s per share. With 0% the claim step runs
 * no statement (the path of generated ids, as before the claims existed).
 *
 *   node --import tsx bench/given-ids-batches.ts
 *   BENCH_BATCHES=60 BENCH_SHARES=0,0.2,1 node --import tsx bench/given-ids-batches.ts
 */
import pg from 'pg';
import { CopyRows, EVENT_COLUMNS, writeEventRow } from '../services/writer/copy-format.ts';
import { copyIsolating, rowKey, type CopyRow } from '../services/writer/copy-writer.ts';
import { claimGivenIds } from '../services/writer/given-ids.ts';
import type { EventRecord } from '../shared/schemas/event.ts';
import { fmt, freshDatabase, makeEvents, median } from './writer-lib.ts';

const BATCH_ROWS = 5000;
const BATCHES = Number(process.env.BENCH_BATCHES ?? 40);
const SHARES = (process.env.BENCH_SHARES ?? '0,0.2,1').split(',').map(Number);

const url = await freshDatabase('vigil_bench_given_batches');
const pool = new pg.Pool({ connectionString: url, max: 1 });
const rates = new Map<number, number[]>(SHARES.map((s) => [s, []]));
const claimMs = new Map<number, number[]>(SHARES.map((s) => [s, []]));
let startMs = Date.now() - 3_600_000;

for (let b = 0; b < BATCHES; b++) {
  for (const share of SHARES) {
    const events = makeEvents(BATCH_ROWS, startMs);
    startMs += BATCH_ROWS / 50 + 1;
    for (const e of events) e.id_given = Math.random() < share;
    // Formatting is the writer's decode step, outside the transaction: left out of the timing here.
    const batch = new CopyRows();
    const rows: (CopyRow & { item: EventRecord })[] = events.map((e) => {
      const start = batch.length;
      writeEventRow(batch, e);
      return { start, end: batch.length, item: e };
    });
    const client = await pool.connect();
    const began = performance.now();
    await client.query('BEGIN');
    const claimed = await claimGivenIds(client, 'event', rows, (r) => (r.item.id_given ? r.item.id : null));
    claimMs.get(share)!.push(performance.now() - began);
    await copyIsolating(client, { table: 'events', columns: EVENT_COLUMNS }, batch, claimed.fresh, (r) =>
      rowKey(r.item.timestamp, r.item.id),
    );
    await client.query('COMMIT');
    const seconds = (performance.now() - began) / 1000;
    client.release();
    rates.get(share)!.push(BATCH_ROWS / seconds);
  }
}
await pool.end();
const baseline = median(rates.get(SHARES[0])!);
console.log(
  [
    `given-ids-batches: ${BATCHES} batches of ${BATCH_ROWS} rows per share, interleaved; median per share`,
    '| producer-chosen ids | rows/s (claim + COPY + COMMIT) | vs first share | claim step per batch |',
    '|---|---|---|---|',
    ...SHARES.map((share) => {
      const m = median(rates.get(share)!);
      const claim = median(claimMs.get(share)!).toFixed(1);
      return `| ${Math.round(share * 100)}% | ${fmt(m)} | ${Math.round((100 * m) / baseline)}% | ${claim} ms |`;
    }),
  ].join('\n'),
);
process.exit(0);
