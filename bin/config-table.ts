/**
 * `npm run docs:config` rewrites the configuration table in README.md from SETTINGS (shared/config.ts), between
 * the config-table markers, so the table cannot drift from the code (shared/config.test.ts checks it too).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT_DIR, SETTINGS } from '../shared/config.ts';

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

export function renderConfigTable(): string {
  const rows = SETTINGS.map(
    (s) => `| \`${s.name}\` | ${s.default === undefined ? '—' : `\`${s.default}\``} | ${s.doc.replace(/\|/g, '\\|')} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

const file = path.join(ROOT_DIR, 'README.md');
const readme = fs.readFileSync(file, 'utf8');
const start = readme.indexOf(START);
const end = readme.indexOf(END);
if (start < 0 || end < start) {
  console.error(`README.md has no ${START} … ${END} section`);
  process.exit(1);
}
fs.writeFileSync(file, `${readme.slice(0, start + START.length)}\n${renderConfigTable()}\n${readme.slice(end)}`);
console.error(`README.md: configuration table rewritten (${SETTINGS.length} variables)`);
