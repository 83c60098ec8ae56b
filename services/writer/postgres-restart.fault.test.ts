/**
 * PostgreSQL restarted mid-stream (a PRIVATE cluster on its own port, never the shared server): the writer retries
 * with backoff while it is down, advances no offset, and once it is back stores every record exactly once.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionString, startCluster, stopCluster, type ClusterOptions } from '../../infra/postgres/cluster.ts';
import {
  countRows,
  totalsAndOffsets,
  createTestContext,
  waitFor,
  waitForWriterAtEnd,
  type TestContext,
} from '../../test/helpers/context.ts';
import { produceNumberedEvents } from '../../test/helpers/load.ts';
import type { Runtime } from '../../bin/runtime.ts';

const TOTAL = 20_000;

describe('PostgreSQL restarted mid-stream', () => {
  const cluster: ClusterOptions = {
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-fault-pg-')),
    port: 25_000 + crypto.randomInt(5000),
    log: () => {},
  };
  let ctx: TestContext;
  let writer: Runtime;

  beforeAll(async () => {
    fs.chmodSync(cluster.dir, 0o755);
    await startCluster(cluster);
    ctx = await createTestContext({
      DATABASE_URL: connectionString(cluster, 'vigil_fault'),
      WRITER_BATCH_MAX_ROWS: '1000',
    });
  });
  afterAll(async () => {
    await ctx?.cleanup().catch(() => {});
    await stopCluster(cluster, 'immediate').catch(() => {});
    fs.rmSync(cluster.dir, { recursive: true, force: true });
  });

  const stored = () => countRows(ctx.db, 'SELECT count(*) AS n FROM events');

  it('retries while PostgreSQL is down and stores every record exactly once', async () => {
    writer = await ctx.start('writer');
    const producing = produceNumberedEvents(ctx.kafkajs, ctx.config.kafka.topics.events, {
      total: TOTAL,
      chunk: 500,
      pauseMs: 50,
    });
    await waitFor(stored, (n) => n >= 3000, 60_000);

    // Crash-stop (no shutdown checkpoint: recovery on start), stay down while records keep arriving, restart.
    await stopCluster(cluster, 'immediate');
    await new Promise((r) => setTimeout(r, 3000));
    await startCluster(cluster);

    await producing;
    await waitFor(stored, (n) => n >= TOTAL, 60_000);
    await waitForWriterAtEnd(ctx, ctx.config.kafka.topics.events, 60_000); // a duplicate would show now
    expect(await stored()).toBe(TOTAL);
    expect(await countRows(ctx.db, 'SELECT count(DISTINCT message) AS n FROM events')).toBe(TOTAL);
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

    const retries = await writer.registry.getSingleMetric('vigil_writer_retries_total')!.get();
    expect(retries.values.find((v) => v.labels.kind === 'database_unavailable')?.value).toBeGreaterThan(0);
  });
});
