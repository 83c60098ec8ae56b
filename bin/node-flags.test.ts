import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/config.ts';
import { NODE_FLAGS } from './node-flags.ts';

describe('Node flags', () => {
  it('npm start and the container run vigil with NODE_FLAGS', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT_DIR, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe(`node ${NODE_FLAGS.join(' ')} --import tsx bin/vigil.ts`);
    const cmd = readFileSync(path.join(ROOT_DIR, 'Dockerfile'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CMD '));
    expect(JSON.parse(cmd!.slice(4))).toEqual(['node', ...NODE_FLAGS, '--import', 'tsx', 'bin/vigil.ts']);
  });
});
