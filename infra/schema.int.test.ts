import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { dumpSchema, SCHEMA_FILE } from '../bin/schema-dump.ts';
import { loadConfig } from '../shared/config.ts';

it('infra/schema.sql is the schema the migrations build (npm run schema:dump regenerates it)', async () => {
  const built = await dumpSchema(loadConfig(process.env).database.url);
  expect(built).toContain('CREATE TABLE public.events');
  expect(await readFile(SCHEMA_FILE, 'utf8'), 'run `npm run schema:dump` and commit infra/schema.sql').toBe(built);
});
