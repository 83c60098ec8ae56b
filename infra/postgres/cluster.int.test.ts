// A private cluster in a temp dir on a free port: the machine's shared PostgreSQL (5432) is never touched.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../test/helpers/process.ts';
import {
  connectionString,
  initCluster,
  isAccepting,
  startCluster,
  stopCluster,
  type ClusterOptions,
} from './cluster.ts';

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('private PostgreSQL cluster', () => {
  it('inits, starts, survives an immediate stop with its data, and stops', async () => {
    // mkdtemp's own dir (not a child of it), so the postgres user can reach it after the chown.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-pg-test-'));
    const opts: ClusterOptions = { dir, port: await freePort(), log: () => {} };
    expect(opts.port).not.toBe(5432);
    const url = connectionString(opts);
    try {
      await initCluster(opts);
      await initCluster(opts); // idempotent
      expect(await isAccepting(opts.port)).toBe(false);
      await startCluster(opts);
      await startCluster(opts); // idempotent
      expect(await isAccepting(opts.port)).toBe(true);
      expect(url).toBe(`postgres://postgres@127.0.0.1:${opts.port}/postgres`);
      expect(await query(url, 'select 1 as one')).toEqual([{ one: 1 }]);

      await query(url, 'create table survivors (id int primary key, note text)');
      await query(url, "insert into survivors values (1, 'committed before the crash')");

      // 'immediate' = no checkpoint, like a crash: the restart must replay WAL.
      await stopCluster(opts, 'immediate');
      expect(await isAccepting(opts.port)).toBe(false);
      await expect(query(url, 'select 1')).rejects.toThrow();

      await startCluster(opts);
      expect(await query(url, 'select id, note from survivors')).toEqual([
        { id: 1, note: 'committed before the crash' },
      ]);
      expect(fs.readFileSync(path.join(dir, 'postgres.log'), 'utf8')).toMatch(
        /not properly shut down|automatic recovery/,
      );

      await stopCluster(opts);
      await stopCluster(opts); // idempotent
      expect(await isAccepting(opts.port)).toBe(false);
    } finally {
      await stopCluster(opts, 'immediate').catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
