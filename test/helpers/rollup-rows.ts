/**
 * Stores events with rows.ts and the per-minute rollups the writer would have counted for them: the root-cause
 * analysis and the timeline's tag scope read rollups, not raw events.
 */
import type { Pool } from '../../shared/db/pool.ts';
import { insertEvents, type TestEvent } from './rows.ts';

export async function insertEventsWithRollups(db: Pool, events: TestEvent[]): Promise<(TestEvent & { id: string })[]> {
  const stored = await insertEvents(db, events);
  const counts = new Map<string, number>();
  for (const e of events) {
    const minute = Math.floor(new Date(e.timestamp).getTime() / 60_000) * 60_000;
    const key = JSON.stringify([
      new Date(minute).toISOString(),
      e.event_type ?? 'log',
      e.source ?? 'api',
      e.level === undefined ? 'info' : (e.level ?? ''),
    ]);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const keys = [...counts.keys()].map((k) => JSON.parse(k) as string[]);
  await db.query(
    `INSERT INTO rollups (bucket, kind, event_type, source, level, count)
     SELECT b, 'event', t, s, l, n FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS
       u(b, t, s, l, n)
     ON CONFLICT (bucket, kind, event_type, source, level) DO UPDATE SET count = rollups.count + EXCLUDED.count`,
    [keys.map((k) => k[0]), keys.map((k) => k[1]), keys.map((k) => k[2]), keys.map((k) => k[3]), [...counts.values()]],
  );
  return stored;
}
