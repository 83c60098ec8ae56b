/**
 * Applies infra/migrations/NNNN_name.sql in order, each in its own transaction, under a session advisory lock so
 * that several processes starting at once apply each file exactly once. Applied files are recorded with a
 * checksum in schema_migrations; editing an applied file is refused rather than silently ignored. A file whose
 * comments alone were reworded keeps its previous checksum in SUPERSEDED_CHECKSUMS, so databases that applied the
 * earlier text start as before.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { ROOT_DIR } from '../config.ts';
import { inTransaction } from './pool.ts';

/** Migration files start with their four-digit version: `0001_name.sql`. */
const VERSION_DIGITS = 4;

export const MIGRATIONS_DIR = path.join(ROOT_DIR, 'infra', 'migrations');
const LOCK_KEY = 0x76_69_67_69; // 'vigi'

/** Checksums of earlier texts of a migration whose comments (never statements) were reworded later. */
export const SUPERSEDED_CHECKSUMS: Readonly<Record<number, readonly string[]>> = {
  // 0001: a comment that named a notes file outside the repository.
  1: ['28a1d441fdb771c56f187b461989f2b67e887eeddac6c0043511cecae9402503'],
};

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const sql = fs.readFileSync(path.join(dir, file), 'utf8');
      return {
        version: Number(file.slice(0, VERSION_DIGITS)),
        name: file,
        sql,
        checksum: crypto.createHash('sha256').update(sql).digest('hex'),
      };
    });
  migrations.forEach((m, i) => {
    if (i > 0 && m.version === migrations[i - 1].version) throw new Error(`two migrations share version ${m.version}`);
  });
  return migrations;
}

export async function migrate(
  url: string,
  log: (line: string) => void = () => {},
  dir = MIGRATIONS_DIR,
  superseded = SUPERSEDED_CHECKSUMS,
): Promise<string[]> {
  const migrations = readMigrations(dir);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.version, r]));
    for (const migration of migrations) {
      const previous = done.get(migration.version);
      if (previous) {
        const accepted = [migration.checksum, ...(superseded[migration.version] ?? [])];
        if (!accepted.includes(previous.checksum)) {
          throw new Error(`migration ${migration.name} was changed after it was applied; add a new migration instead`);
        }
        continue;
      }
      log(`applying migration ${migration.name}`);
      try {
        await inTransaction(client, async () => {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
            migration.version,
            migration.name,
            migration.checksum,
          ]);
        });
      } catch (error) {
        throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`);
      }
      applied.push(migration.name);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    await client.end();
  }
}

/** The newest version on disk; /readyz compares it with the database. */
export function latestMigrationVersion(dir = MIGRATIONS_DIR): number {
  const all = readMigrations(dir);
  return all.length === 0 ? 0 : all[all.length - 1].version;
}
