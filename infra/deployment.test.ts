/**
 * What the shipped deployment files promise (there is no Docker engine in the test environment, and `docker compose
 * config` needs the compose plugin, so the files are read as text):
 *   - docker-compose.yml has no default JWT secret: compose refuses to start without JWT_SECRET (`${JWT_SECRET:?…}`)
 *     and its message says how to make one; no secret published with vigil appears in it;
 *   - vigil's port is published on the loopback interface only;
 *   - the image runs with NODE_ENV=production, so vigil itself refuses a short or published secret (shared/config.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, KNOWN_DEV_SECRETS, loadConfig, ROOT_DIR } from '../shared/config.ts';

const compose = fs.readFileSync(path.join(ROOT_DIR, 'docker-compose.yml'), 'utf8');
const dockerfile = fs.readFileSync(path.join(ROOT_DIR, 'Dockerfile'), 'utf8');

/** The lines of one service's block (from `  <name>:` to the next line indented by two spaces or less). */
function serviceBlock(name: string): string[] {
  const lines = compose.split('\n');
  const start = lines.indexOf(`  ${name}:`);
  expect(start, `service ${name} in docker-compose.yml`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((line, i) => i > start && line.trim() !== '' && !/^ {3}/.test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end).filter((line) => !/^\s*#/.test(line));
}

/** A YAML scalar as written on one line: plain, 'single-quoted' or "double-quoted" (no escapes used here). */
const scalar = (text: string) =>
  text
    .trim()
    .replace(/^'(.*)'$/, (_, inner: string) => inner.replaceAll("''", "'"))
    .replace(/^"(.*)"$/, '$1');

describe('docker-compose.yml', () => {
  const vigil = serviceBlock('vigil');

  it('refuses to start without JWT_SECRET, saying how to make one', () => {
    const entries = vigil.filter((line) => /^\s+JWT_SECRET:/.test(line));
    expect(entries).toHaveLength(1);
    const value = scalar(entries[0].slice(entries[0].indexOf(':') + 1));
    // Compose's `${VAR:?message}`: an error naming VAR and the message when VAR is unset or empty; no default.
    const match = /^\$\{JWT_SECRET:\?([^}]+)\}$/.exec(value);
    expect(match, value).not.toBeNull();
    expect(match![1]).toContain('openssl rand -base64 48');
  });

  it('ships no usable secret and no default for it', () => {
    for (const secret of KNOWN_DEV_SECRETS) expect(compose).not.toContain(secret);
    expect(compose).not.toMatch(/\$\{JWT_SECRET:?-/);
  });

  it('publishes vigil on the loopback interface only', () => {
    const start = vigil.findIndex((line) => /^ {4}ports:/.test(line));
    const items = vigil.slice(start + 1).filter((line) => /^ {6}- /.test(line));
    expect(items.map((line) => scalar(line.replace(/^ {6}- /, '')))).toEqual(['127.0.0.1:8080:8080']);
    for (const name of ['kafka', 'postgres']) {
      expect(
        serviceBlock(name).some((line) => /^ {4}ports:/.test(line)),
        `${name} publishes no port`,
      ).toBe(false);
    }
  });

  it('runs the image as a deployment: NODE_ENV=production refuses short and published secrets', () => {
    const env = /^ENV NODE_ENV=(\S+)$/m.exec(dockerfile)?.[1];
    expect(env).toBe('production');
    expect(vigil.some((line) => /NODE_ENV/.test(line))).toBe(false);
    for (const secret of [...KNOWN_DEV_SECRETS, 'x'.repeat(31)]) {
      expect(() => loadConfig({ NODE_ENV: env, JWT_SECRET: secret }), secret).toThrow(ConfigError);
    }
  });
});
