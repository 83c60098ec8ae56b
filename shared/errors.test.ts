import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT_DIR } from './config.ts';
import { ERRORS } from './errors.ts';

describe('error registry', () => {
  const doc = fs.readFileSync(path.join(ROOT_DIR, 'docs', 'errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^## (VIGIL_ERR_\w+)\n(\d{3})\./gm)].map((m) => [m[1], Number(m[2])]);

  it('documents every code with its status in docs/errors.md, and nothing else', () => {
    expect(Object.fromEntries(documented)).toEqual(
      Object.fromEntries(Object.entries(ERRORS).map(([code, spec]) => [code, spec.status])),
    );
  });

  it('marks exactly the 429 and 503 codes retriable', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(spec.retriable, code).toBe(spec.status === 429 || spec.status === 503);
    }
  });
});
