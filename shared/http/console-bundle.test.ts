import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConsole, ensureConsoleBundle, loadBundle, sourceHash } from './console-bundle.ts';

const BUDGET_GZIP_BYTES = 250 * 1024;

describe('the console bundle', () => {
  it('builds one JS and one CSS file, referenced by index.html, under 250 KB gzipped together', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vigil-console-'));
    try {
      const sizes = await buildConsole(dir);
      const assets = Object.keys(sizes)
        .filter((name) => name.startsWith('assets/'))
        // The stylesheet first: by extension, since the names' hashes sort either way.
        .sort((a, b) => Number(a.endsWith('.js')) - Number(b.endsWith('.js')) || a.localeCompare(b));
      expect(assets).toHaveLength(2);
      expect(assets[0]).toMatch(/^assets\/main-[A-Z0-9]+\.css$/);
      expect(assets[1]).toMatch(/^assets\/main-[A-Z0-9]+\.js$/);
      const gzipped = assets.reduce((sum, name) => sum + sizes[name].gzip_bytes, 0);
      expect(gzipped).toBeGreaterThan(10_000);
      expect(gzipped).toBeLessThan(BUDGET_GZIP_BYTES);
      const html = await fs.readFile(path.join(dir, 'index.html'), 'utf8');
      expect(html).toContain(`<link rel="stylesheet" href="${assets[0]}">`);
      expect(html).toContain(`<script type="module" src="${assets[1]}"></script>`);
      // Nothing is fetched from elsewhere: every URL the page loads is relative to /console/.
      expect(html).not.toMatch(/https?:\/\//);
      const bundle = await loadBundle(dir);
      expect([...bundle.files.keys()].sort()).toEqual(['', ...assets, 'manifest.json'].sort());
      expect(bundle.files.get(assets[1])).toMatchObject({
        contentType: 'text/javascript; charset=utf-8',
        immutable: true,
      });
      expect(bundle.files.get('')).toMatchObject({ contentType: 'text/html; charset=utf-8', immutable: false });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("builds once for parallel starters, named by the sources' hash, and removes older builds", async () => {
    const buildDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vigil-console-builds-'));
    try {
      await fs.mkdir(path.join(buildDir, 'an-older-build'));
      const [a, b] = await Promise.all([ensureConsoleBundle(buildDir), ensureConsoleBundle(buildDir)]);
      const hash = await sourceHash();
      expect(a.dir).toBe(path.join(buildDir, hash));
      expect(b.dir).toBe(a.dir);
      expect(await fs.readdir(buildDir)).toEqual([hash]);
      expect([...b.files.keys()].sort()).toEqual([...a.files.keys()].sort());
      expect(a.files.get('')!.body.toString()).toContain('<script type="module" src="assets/main-');
      // Present: loaded, not rebuilt.
      const stamp = (await fs.stat(path.join(a.dir, 'manifest.json'))).mtimeMs;
      const again = await ensureConsoleBundle(buildDir);
      expect((await fs.stat(path.join(again.dir, 'manifest.json'))).mtimeMs).toBe(stamp);
    } finally {
      await fs.rm(buildDir, { recursive: true, force: true });
    }
  });
});
