/** `npm run migrate`: creates the database if absent and applies pending migrations. */
import { loadConfig } from '../shared/config.ts';
import { ensureDatabase } from '../shared/db/ensure-database.ts';
import { migrate } from '../shared/db/migrate.ts';

const log = (line: string) => console.error(line);
try {
  const config = loadConfig(process.env);
  await ensureDatabase(config.database.url, log);
  const applied = await migrate(config.database.url, log);
  log(applied.length ? `applied ${applied.join(', ')}` : 'nothing to apply');
} catch (error) {
  log(`migration failed: ${(error as Error).message}`);
  process.exit(1);
}
