/**
 * The binary rows the writer COPYs (copy-format.ts) against COPY text of the same values, which PostgreSQL parses
 * itself: random events and samples (unicode, characters COPY text escapes, surrogates, nulls, notable events with
 * small and large tags, times across the epochs, extreme floats) loaded both ways into two tables of the same
 * shape must hold exactly the same rows. Also: copyIsolating isolates a row PostgreSQL refuses (invalid JSON in
 * jsonb) and tells a duplicate key by the id read back from the row's bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { ensureAllPartitions } from '../../shared/db/partitions.ts';
import type { EventRecord } from '../../shared/schemas/event.ts';
import type { MetricRecord } from '../../shared/schemas/metric.ts';
import { CopyRows, EVENT_COLUMNS, METRIC_COLUMNS, rowId, writeEventRow, writeMetricRow } from './copy-format.ts';
import { copyBinary, copyIsolating, rowKey } from './copy-writer.ts';
import { rng } from '../../test/helpers/random.ts';
import { copyTextRow, eventCopyText } from '../../test/helpers/copy-text.ts';

const NOW = Date.now();
const ROWS = 2000;

const PIECES = ['a', 'Z', ' ', '\\', '\t', '\n', '\r', '"', 'é', '€', '𝄞', '\\N', '{}', "'", ','];
/** Lone surrogates: U+FFFD in text columns either way; jsonb refuses their escapes in either format. */
const TEXT_PIECES = [...PIECES, '\ud800', '\udc00'];

function randomEvents(seed: number): EventRecord[] {
  const random = rng(seed);
  const text = (max: number, pieces = PIECES) => {
    let s = '';
    for (let n = Math.floor(random() * max); n > 0; n--) s += pieces[Math.floor(random() * pieces.length)];
    return s;
  };
  const levels = [null, 'debug', 'info', 'warn', 'error', 'fatal'] as const;
  const types = ['log', 'trace', 'alert', 'metric'] as const;
  return Array.from({ length: ROWS }, (_, i) => {
    const big = random() < 0.05;
    return {
      id: crypto.randomUUID(),
      event_type: types[i % types.length],
      source: `src-${text(8, TEXT_PIECES)}`,
      level: levels[Math.floor(random() * levels.length)],
      message: random() < 0.2 ? null : text(40, TEXT_PIECES),
      tags: JSON.stringify({ k: text(big ? 3000 : 12), n: i, nested: { v: text(5) } }),
      payload: JSON.stringify({ p: text(20), f: random() * 1e300, list: [1, 'x', null, true] }),
      timestamp: NOW - Math.floor(random() * 3_600_000),
      created_by: random() < 0.3 ? null : `u-${text(6, TEXT_PIECES)}`,
      id_given: false,
    };
  });
}

function metricText(m: MetricRecord): string {
  const values = [m.id, new Date(m.timestamp).toISOString(), m.name, m.metric_type, String(m.value)];
  return copyTextRow([...values, JSON.stringify(m.labels), m.created_by]);
}

describe('binary COPY rows', () => {
  let ctx: TestContext;

  beforeAll(async () => {
    ctx = await createTestContext();
    await ensureAllPartitions(ctx.db, 'day', NOW - 86_400_000, NOW + 86_400_000);
    await ctx.db.query(`CREATE TABLE text_events (LIKE events INCLUDING DEFAULTS);
                        CREATE TABLE text_metrics (LIKE metrics INCLUDING DEFAULTS)`);
  });
  afterAll(() => ctx?.cleanup());

  async function copyText(table: string, columns: string, text: string): Promise<void> {
    const client = await ctx.db.connect();
    try {
      await pipeline(Readable.from([text]), client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN`)));
    } finally {
      client.release();
    }
  }

  async function copyRows(table: string, columns: string, rows: CopyRows): Promise<void> {
    const client = await ctx.db.connect();
    try {
      await copyBinary(client, table, columns, rows.written());
    } finally {
      client.release();
    }
  }

  /** Rows in one table and not the other, both ways (every column but created_at). */
  async function difference(a: string, b: string, columns: string): Promise<number> {
    const { rows } = await ctx.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM (SELECT ${columns} FROM ${a} EXCEPT ALL SELECT ${columns} FROM ${b}) x)::int +
              (SELECT count(*) FROM (SELECT ${columns} FROM ${b} EXCEPT ALL SELECT ${columns} FROM ${a}) y)::int AS n`,
    );
    return rows[0].n;
  }

  it('stores events exactly as COPY text of the same values does', async () => {
    const events = randomEvents(20261207);
    const rows = new CopyRows(64);
    for (const e of events) writeEventRow(rows, e);
    await copyRows('events', EVENT_COLUMNS, rows);
    await copyText('text_events', EVENT_COLUMNS, events.map((e) => eventCopyText(e)).join(''));
    const { rows: counts } = await ctx.db.query<{ n: number; notable: number }>(
      'SELECT count(*)::int AS n, count(notable_tags)::int AS notable FROM events',
    );
    expect(counts[0].n).toBe(ROWS);
    expect(counts[0].notable).toBeGreaterThan(ROWS / 4); // the notable column is exercised, with and without tags
    expect(await difference('events', 'text_events', EVENT_COLUMNS)).toBe(0);
    // The comparison would see a difference: one changed character.
    const changed = events.find((e) => e.message !== null)!;
    await ctx.db.query(`UPDATE text_events SET message = message || 'x' WHERE id = $1`, [changed.id]);
    expect(await difference('events', 'text_events', EVENT_COLUMNS)).toBe(2);
  });

  it('stores samples exactly as COPY text of the same values does', async () => {
    const random = rng(7);
    const values = [0, -0, 1, -1.5, 5e-324, 1.7976931348623157e308, -1e-300, 0.1 + 0.2, 2 ** 53 + 2];
    const samples: MetricRecord[] = Array.from({ length: ROWS }, (_, i) => ({
      id: crypto.randomUUID(),
      name: `m_${i % 17}`,
      metric_type: i % 2 === 0 ? 'gauge' : 'counter',
      value: i < values.length ? values[i] : (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20),
      labels: { host: `h${i % 5}`, path: i % 3 === 0 ? '/a\tb\\c\n' : 'é€𝄞' },
      timestamp: NOW - Math.floor(random() * 3_600_000),
      created_by: i % 4 === 0 ? null : 'u1',
      id_given: false,
    }));
    const rows = new CopyRows(64);
    for (const m of samples) writeMetricRow(rows, m);
    await copyRows('metrics', METRIC_COLUMNS, rows);
    await copyText('text_metrics', METRIC_COLUMNS, samples.map(metricText).join(''));
    expect(await difference('metrics', 'text_metrics', METRIC_COLUMNS)).toBe(0);
    const { rows: signs } = await ctx.db.query<{ text: string }>(
      `SELECT value::text AS text FROM metrics WHERE id = $1`,
      [samples[1].id],
    );
    expect(signs[0].text).toBe('0');
  });

  it('isolates a row PostgreSQL refuses and tells duplicates by the id in their bytes', async () => {
    const [good, bad, again] = randomEvents(3).slice(0, 3);
    const rows = new CopyRows();
    const refs = [good, { ...bad, payload: '{not json' }, { ...good }, again].map((e, n) => {
      const start = rows.length;
      writeEventRow(rows, e);
      return { start, end: rows.length, n, timestamp: e.timestamp };
    });
    const client = await ctx.db.connect();
    try {
      await client.query('BEGIN');
      const keyOf = (r: { start: number; timestamp: number }) => rowKey(r.timestamp, rowId(rows, r.start));
      const outcome = await copyIsolating(client, { table: 'events', columns: EVENT_COLUMNS }, rows, refs, keyOf);
      await client.query('COMMIT');
      expect(outcome.rejected.map((r) => r.row.n)).toEqual([1]);
      expect(outcome.rejected[0].error.message).toMatch(/json/i);
      expect(outcome.duplicates.map((r) => r.n)).toEqual([2]);
    } finally {
      client.release();
    }
    const { rows: stored } = await ctx.db.query<{ id: string }>(
      'SELECT id FROM events WHERE id = ANY($1) ORDER BY id',
      [[good.id, bad.id, again.id]],
    );
    expect(stored.map((r) => r.id)).toEqual([good.id, again.id].sort());
  });
});
