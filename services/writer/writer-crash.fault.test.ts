/**
 * The writer as its own OS process, killed with SIGKILL mid-stream three times and restarted each time, while a
 * producer keeps publishing: in the end every produced record is stored exactly once. The records carry no id (the
 * writer assigns one), so a record stored twice would show up as an extra row, not be absorbed by the primary key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countRows,
  totalsAndOffsets,
  createTestContext,
  waitFor,
  waitForWriterAtEnd,
  type TestContext,
} from '../../test/helpers/context.ts';
import { produceNumberedEvents } from '../../test/helpers/load.ts';
import { spawnVigil, type VigilProcess } from '../../test/helpers/process.ts';

const TOTAL = 30_000;
const KILLS = 3;

describe('writer killed with SIGKILL mid-stream', () => {
  let ctx: TestContext;
  let writer: VigilProcess | undefined;

  beforeAll(async () => {
    ctx = await createTestContext({
      WRITER_SESSION_TIMEOUT_MS: '6000',
      WRITER_BATCH_MAX_ROWS: '1000',
      LOG_LEVEL: 'warn',
    });
  });
  afterAll(async () => {
    writer?.child.kill('SIGKILL');
    await ctx?.cleanup();
  });

  const stored = () => countRows(ctx.db, 'SELECT count(*) AS n FROM events');

  it('stores every produced record exactly once', async () => {
    const start = () => (writer = spawnVigil('writer', { ...ctx.env, PORT: '0' }));
    start();
    const producing = produceNumberedEvents(ctx.kafkajs, ctx.config.kafka.topics.events, {
      total: TOTAL,
      chunk: 500,
      pauseMs: 25,
    });

    let before = 0;
    for (let kill = 1; kill <= KILLS; kill++) {
      // Mid-stream: the writer has stored more since it (re)started, and is still going.
      before = await waitFor(stored, (n) => n >= before + 2000 && n < TOTAL, 60_000);
      writer!.child.kill('SIGKILL');
      expect(await writer!.exited).toBe('SIGKILL');
      start();
    }
    await producing;
    const final = await waitFor(stored, (n) => n >= TOTAL, 90_000).catch((error) => {
      throw new Error(`${(error as Error).message}\nwriter output:\n${writer!.output()}`);
    });
    await waitForWriterAtEnd(ctx, ctx.config.kafka.topics.events, 60_000); // a duplicate would show now
    expect(final).toBe(TOTAL);
    expect(await stored()).toBe(TOTAL);
    expect(await countRows(ctx.db, 'SELECT count(DISTINCT message) AS n FROM events')).toBe(TOTAL);
    expect(await countRows(ctx.db, 'SELECT count(DISTINCT id) AS n FROM events')).toBe(TOTAL);
    expect(await countRows(ctx.db, "SELECT coalesce(sum(count), 0) AS n FROM rollups WHERE kind = 'event'")).toBe(
      TOTAL,
    );
    const { totals, offsets } = await totalsAndOffsets(ctx.db, 'event', ctx.config.kafka.topics.events);
    expect(totals).toEqual(offsets);
    expect(
      await countRows(ctx.db, 'SELECT sum(next_offset) AS n FROM consumer_offsets WHERE topic = $1', [
        ctx.config.kafka.topics.events,
      ]),
    ).toBe(TOTAL);

    writer!.child.kill('SIGTERM');
    expect(await writer!.exited).toBe('0');
    writer = undefined;
  });
});
