/**
 * The web console's bundle (browser code in console/src, bundled by esbuild): built when a process serving it
 * starts and the bundle for the current sources is missing, so `npm ci && npm start` and `npm test` need no
 * separate build step. A build is named by the hash of its inputs (console/src, package-lock.json, this file):
 * parallel processes that build the same sources write to private temporary folders and rename into the same name,
 * so none reads a half-written bundle. The files are then held in memory, gzipped once.
 *
 * Layout of console/build/<hash>/: index.html, assets/main-<content hash>.js and .css, manifest.json (sizes).
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { ROOT_DIR } from '../config.ts';

const HASH_HEX_CHARS = 16;
const TEMP_SUFFIX_BYTES = 4;

export const CONSOLE_DIR = path.join(ROOT_DIR, 'console');
export const CONSOLE_BUILD_DIR = path.join(CONSOLE_DIR, 'build');
/** This file: its build options are inputs of the bundle too. */
const BUILDER = fileURLToPath(import.meta.url);

export interface ConsoleFile {
  body: Buffer;
  gzip: Buffer;
  contentType: string;
  /** Hashed asset names never change content; index.html is revalidated so a new build is picked up. */
  immutable: boolean;
}

export interface ConsoleBundle {
  dir: string;
  /** By path under /console/ ('' is index.html). */
  files: Map<string, ConsoleFile>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
};

async function listFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** The hash of everything the bundle is made of. */
export async function sourceHash(): Promise<string> {
  const hash = crypto.createHash('sha256');
  const sources = await listFiles(path.join(CONSOLE_DIR, 'src'));
  const inputs = [...sources, path.join(ROOT_DIR, 'package-lock.json'), BUILDER];
  for (const file of inputs) {
    hash
      .update(path.relative(ROOT_DIR, file))
      .update('\0')
      .update(await fs.readFile(file))
      .update('\0');
  }
  return hash.digest('hex').slice(0, HASH_HEX_CHARS);
}

const indexHtml = (js: string, css: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vigil console</title>
<link rel="stylesheet" href="${css}">
</head>
<body>
<div id="app"><p class="loading">Loading the console…</p></div>
<script type="module" src="${js}"></script>
</body>
</html>
`;

/** Bundles console/src into `outdir` (created); answers the built files' sizes, raw and gzipped. */
export async function buildConsole(outdir: string): Promise<Record<string, { bytes: number; gzip_bytes: number }>> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(CONSOLE_DIR, 'src', 'main.ts')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    outdir: path.join(outdir, 'assets'),
    entryNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'silent',
    legalComments: 'eof', // the libraries' licence notices stay with their code
  });
  const outputs = Object.keys(result.metafile.outputs).map((o) => path.resolve(o));
  const js = outputs.find((o) => o.endsWith('.js'));
  const css = outputs.find((o) => o.endsWith('.css'));
  if (!js || !css) throw new Error('the console build produced no JavaScript or no CSS');
  const rel = (file: string) => path.relative(outdir, file).split(path.sep).join('/');
  await fs.writeFile(path.join(outdir, 'index.html'), indexHtml(rel(js), rel(css)));
  const sizes: Record<string, { bytes: number; gzip_bytes: number }> = {};
  for (const file of await listFiles(outdir)) {
    const body = await fs.readFile(file);
    sizes[rel(file)] = { bytes: body.length, gzip_bytes: zlib.gzipSync(body, { level: 9 }).length };
  }
  await fs.writeFile(path.join(outdir, 'manifest.json'), `${JSON.stringify(sizes, null, 2)}\n`);
  return sizes;
}

/** The bundle of the current sources, built first if missing; older builds are removed. */
export async function ensureConsoleBundle(buildDir = CONSOLE_BUILD_DIR): Promise<ConsoleBundle> {
  const hash = await sourceHash();
  const dir = path.join(buildDir, hash);
  const ready = await fs.stat(path.join(dir, 'manifest.json')).then(
    () => true,
    () => false,
  );
  if (!ready) {
    const temporary = path.join(
      buildDir,
      `.tmp-${process.pid}-${crypto.randomBytes(TEMP_SUFFIX_BYTES).toString('hex')}`,
    );
    await fs.mkdir(temporary, { recursive: true });
    try {
      await buildConsole(temporary);
      await fs.rename(temporary, dir).catch(async (error: NodeJS.ErrnoException) => {
        // Another process renamed the same build into place first.
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      });
    } finally {
      await fs.rm(temporary, { recursive: true, force: true });
    }
    for (const other of await fs.readdir(buildDir)) {
      if (other !== hash && !other.startsWith('.tmp-')) {
        await fs.rm(path.join(buildDir, other), { recursive: true, force: true });
      }
    }
  }
  return loadBundle(dir);
}

export async function loadBundle(dir: string): Promise<ConsoleBundle> {
  const files = new Map<string, ConsoleFile>();
  for (const file of await listFiles(dir)) {
    const name = path.relative(dir, file).split(path.sep).join('/');
    const body = await fs.readFile(file);
    const contentType = CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream';
    const entry = { body, gzip: zlib.gzipSync(body, { level: 9 }), contentType, immutable: name.startsWith('assets/') };
    files.set(name === 'index.html' ? '' : name, entry);
  }
  return { dir, files };
}
