/**
 * The database in one file: migrates a scratch database, dumps its schema (pg_dump --schema-only, without the
 * time partitions the roles create at run time, owners, privileges and pg_dump's version banner) and writes
 * infra/schema.sql, or with --check compares it with the committed file (infra/schema.int.test.ts runs that).
 *
 *   npm run schema:dump           # after adding a migration
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { dropDatabase, ensureDatabase } from '../shared/db/ensure-database.ts';
import { migrate } from '../shared/db/migrate.ts';

export const SCHEMA_FILE = new URL('../infra/schema.sql', import.meta.url);
/** Run-time partitions: events_p20261206, metrics_p2026120614, rollups_p20261206… */
const PARTITION_PATTERN = '*_p[0-9]*';

/** The schema the migrations build, as normalised pg_dump text. */
export async function dumpSchema(databaseUrl: string): Promise<string> {
  const url = new URL(databaseUrl);
  const name = `vigil_schema_${crypto.randomBytes(4).toString('hex')}`;
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  try {
    await migrate(url.toString());
    const { stdout } = await promisify(execFile)(
      'pg_dump',
      [
        '--schema-only',
        '--no-owner',
        '--no-privileges',
        '--no-comments',
        `--exclude-table=${PARTITION_PATTERN}`,
        url.toString(),
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return normalise(stdout);
  } finally {
    await dropDatabase(databaseUrl, name);
  }
}

function normalise(dump: string): string {
  // pg_dump's banner, session settings and its \\restrict key (random per run) say nothing about the schema.
  const noise = [/^-- Dumped (from|by)/, /^SET /, /^SELECT pg_catalog\.set_config/, /^\\(un)?restrict /];
  const lines = dump.split('\n').filter((l) => !noise.some((n) => n.test(l)));
  const header =
    '-- The schema infra/migrations build, in one file (npm run schema:dump regenerates it; a test checks it).\n';
  return (
    header +
    lines
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim() +
    '\n'
  );
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const schema = await dumpSchema(config.database.url);
  if (process.argv.includes('--check')) {
    const committed = await readFile(SCHEMA_FILE, 'utf8').catch(() => '');
    if (committed !== schema) {
      console.error('infra/schema.sql is not what the migrations build: run `npm run schema:dump` and commit it.');
      process.exit(1);
    }
    return;
  }
  await writeFile(SCHEMA_FILE, schema);
  console.error(`wrote infra/schema.sql (${schema.split('\n').length} lines)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
