/**
 * Part of `npm run lint`: fails when a line of the TypeScript or JavaScript the repository tracks (or is about to:
 * untracked files that git does not ignore) is longer than MAX_LINE_CHARACTERS. The formatter wraps code at that
 * width but leaves comments, strings and template literals as they are; this check covers them. Markdown, SQL and
 * generated files are not checked.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAX_LINE_CHARACTERS = 120;
const CHECKED_FILE = /\.(ts|tsx|js|mjs|cjs)$/;

export interface LongLine {
  line: number;
  characters: number;
}

/** The lines of `text` longer than `max` characters (code points, so `→` or `µ` count once), numbered from 1. */
export function longLines(text: string, max = MAX_LINE_CHARACTERS): LongLine[] {
  const found: LongLine[] = [];
  text.split('\n').forEach((content, index) => {
    const characters = [...content.replace(/\r$/, '')].length;
    if (characters > max) found.push({ line: index + 1, characters });
  });
  return found;
}

function checkedFiles(root: string): string[] {
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: root,
    encoding: 'utf8',
  });
  return listed.split('\0').filter((file) => CHECKED_FILE.test(file) && fs.existsSync(path.join(root, file)));
}

function main(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  let count = 0;
  for (const file of checkedFiles(root)) {
    for (const { line, characters } of longLines(fs.readFileSync(path.join(root, file), 'utf8'))) {
      console.error(`${file}:${line}: ${characters} characters (at most ${MAX_LINE_CHARACTERS})`);
      count++;
    }
  }
  if (count > 0) {
    console.error(
      `${count} line${count === 1 ? '' : 's'} longer than ${MAX_LINE_CHARACTERS} characters: wrap them by hand`,
    );
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
