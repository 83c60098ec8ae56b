import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { dropDatabase, ensureDatabase } from './ensure-database.ts';
import { migrate } from './migrate.ts';

const name = `vigil_migrate_${crypto.randomBytes(4).toString('hex')}`;
const url = (() => {
  const u = new URL(loadConfig(process.env).database.url);
  u.pathname = `/${name}`;
  return u.toString();
})();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-migrations-'));
afterAll(async () => {
  await dropDatabase(url, name);
  fs.rmSync(dir, { recursive: true, force: true });
});

it('refuses an applied migration that changed, unless its earlier text is a superseded checksum', async () => {
  await ensureDatabase(url);
  const file = path.join(dir, '0001_t.sql');
  const first = '-- a comment naming something\nCREATE TABLE t (x int);\n';
  fs.writeFileSync(file, first);
  expect(await migrate(url, () => {}, dir, {})).toEqual(['0001_t.sql']);
  fs.writeFileSync(file, '-- the same comment, reworded\nCREATE TABLE t (x int);\n');
  await expect(migrate(url, () => {}, dir, {})).rejects.toThrow(
    'migration 0001_t.sql was changed after it was applied; add a new migration instead',
  );
  const earlier = crypto.createHash('sha256').update(first).digest('hex');
  expect(await migrate(url, () => {}, dir, { 1: [earlier] })).toEqual([]);
});
