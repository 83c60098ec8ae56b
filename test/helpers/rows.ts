/**
 * Test helper: stores events, metric samples and rollups straight into a test database (partitions created first),
 * for query tests that need exact timestamps and ids. The pipeline tests (test/query-pipeline.test.ts) go through
 * the gateway and the writer instead.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Pool } from '../../shared/db/pool.ts';
import { ensureAllPartitions } from '../../shared/db/partitions.ts';

export interface TestEvent {
  id?: string;
  timestamp: string | number;
  event_type?: string;
  source?: string;
  level?: string | null;
  message?: string | null;
  tags?: Record<string, unknown>;
  payload?: Record<string, unknown>;
  /** Default `test`. */
  created_by?: string;
}

export interface TestSample {
  id?: string;
  timestamp: string | number;
  name: string;
  metric_type: string;
  value: number;
  labels?: Record<string, string>;
}

const iso = (t: string | number) => (typeof t === 'number' ? new Date(t).toISOString() : t);
const ms = (t: string | number) => (typeof t === 'number' ? t : Date.parse(t));

async function partitionsFor(db: Pool, times: (string | number)[]): Promise<void> {
  const all = times.map(ms);
  await ensureAllPartitions(db, 'day', Math.min(...all), Math.max(...all));
}

/** Inserts the events (ids default to UUIDv7 of their timestamp) and returns them with their ids. */
export async function insertEvents(db: Pool, events: TestEvent[]): Promise<(TestEvent & { id: string })[]> {
  const rows = events.map((e) => ({
    id: e.id ?? uuidv7({ msecs: ms(e.timestamp) }),
    timestamp: iso(e.timestamp),
    event_type: e.event_type ?? 'log',
    source: e.source ?? 'api',
    level: e.level === undefined ? 'info' : e.level,
    message: e.message === undefined ? 'hello' : e.message,
    tags: e.tags ?? {},
    payload: e.payload ?? {},
    created_by: e.created_by ?? 'test',
  }));
  await partitionsFor(
    db,
    rows.map((r) => r.timestamp),
  );
  await db.query(
    // notable_tags as the writer sets it for small tags (services/writer/copy-format.ts).
    `INSERT INTO events (id, "timestamp", event_type, source, level, message, tags, payload, created_by, notable_tags)
     SELECT id, "timestamp", event_type, source, level, message, tags, payload, created_by,
            CASE WHEN level IN ('warn', 'error', 'fatal') OR event_type = 'alert' THEN tags END
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, "timestamp" timestamptz, event_type text, source text, level
         text,
                                                message text, tags jsonb, payload jsonb, created_by text)`,
    [JSON.stringify(rows)],
  );
  return events.map((e, i) => ({ ...e, id: rows[i].id }));
}

export async function insertSamples(db: Pool, samples: TestSample[]): Promise<void> {
  const rows = samples.map((s) => ({
    id: s.id ?? uuidv7({ msecs: ms(s.timestamp) }),
    timestamp: iso(s.timestamp),
    name: s.name,
    metric_type: s.metric_type,
    // JSON has no NaN or infinities: float8's input reads them from their names.
    value: Number.isFinite(s.value) ? s.value : String(s.value),
    labels: s.labels ?? {},
  }));
  await partitionsFor(
    db,
    rows.map((r) => r.timestamp),
  );
  await db.query(
    `INSERT INTO metrics (id, "timestamp", name, metric_type, value, labels, created_by)
     SELECT id, "timestamp", name, metric_type, value, labels, 'test'
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, "timestamp" timestamptz, name text, metric_type text, value
         float8, labels jsonb)`,
    [JSON.stringify(rows)],
  );
}
