/**
 * Token verification with public keys (RS256 from a PEM file, ES256 from a JWKS file), keys generated here, and the
 * refusals that matter with several keys: another key's signature, an HMAC made with the public key as its secret
 * (algorithm confusion), an unknown kid, and configuration problems reported by loadConfig.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, ROOT_DIR } from '../config.ts';
import { createTokenVerifier, TOKEN_FAILURES, TokenRejected, type TokenFailure } from './verify.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-keys-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const ISSUER = 'https://idp.example.com';
const claims = (more: Record<string, unknown> = {}) => ({
  sub: 'idp|alice',
  role: 'moderator',
  iss: ISSUER,
  exp: now() + 600,
  ...more,
});
const alice = (role = 'moderator') => ({ sub: 'idp|alice', role });

type Json = Record<string, unknown>;

function sign(header: Json, payload: Json, key: crypto.KeyObject | string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  if (typeof key === 'string') return `${input}.${crypto.createHmac('sha256', key).update(input).digest('base64url')}`;
  const signer = header.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), signer).toString('base64url')}`;
}

function reason(verify: (token: string) => unknown, token: string): TokenFailure | 'accepted' {
  try {
    verify(token);
    return 'accepted';
  } catch (error) {
    if (error instanceof TokenRejected) return error.reason;
    throw error;
  }
}

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec1 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec2 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemFile = write('idp.pem', rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString());
const jwksFile = write(
  'jwks.json',
  JSON.stringify({
    keys: [
      { ...ec1.publicKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig', alg: 'ES256' },
      { ...ec2.publicKey.export({ format: 'jwk' }), kid: 'ec-2' },
      { kty: 'RSA', use: 'enc', kid: 'encryption-only', n: 'AQAB', e: 'AQAB' },
    ],
  }),
);
const env = { NODE_ENV: 'production', JWT_ISSUER: ISSUER, JWT_PUBLIC_KEY_FILE: pemFile, JWT_JWKS_FILE: jwksFile };

describe('public-key verification', () => {
  const config = loadConfig(env);
  const verify = createTokenVerifier(config.auth);

  it('loads the PEM key and the JWKS signing keys; no secret is needed (nor any HS256 accepted)', () => {
    expect(config.auth.secret).toBeNull();
    const keys = config.auth.keys.map((k) => [k.kid, k.alg]);
    expect(keys).toEqual([
      [null, 'RS256'],
      ['ec-1', 'ES256'],
      ['ec-2', 'ES256'],
    ]);
  });

  it('accepts RS256 from the PEM key and ES256 from the JWKS key its kid names', () => {
    expect(verify(sign({ alg: 'RS256', typ: 'JWT' }, claims(), rsa.privateKey))).toEqual(alice());
    const admin = claims({ role: 'admin' });
    expect(verify(sign({ alg: 'ES256', kid: 'ec-1' }, admin, ec1.privateKey))).toEqual(alice('admin'));
    expect(verify(sign({ alg: 'ES256', kid: 'ec-2' }, claims(), ec2.privateKey))).toEqual(alice());
  });

  it('refuses what only looks right', () => {
    const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect({
      'another key': reason(verify, sign({ alg: 'RS256' }, claims(), stranger.privateKey)),
      'kid of another key': reason(verify, sign({ alg: 'ES256', kid: 'ec-2' }, claims(), ec1.privateKey)),
      'unknown kid': reason(verify, sign({ alg: 'ES256', kid: 'ec-9' }, claims(), ec1.privateKey)),
      'no kid among several keys': reason(verify, sign({ alg: 'ES256' }, claims(), ec1.privateKey)),
      'HMAC with the public key as secret': reason(verify, sign({ alg: 'HS256' }, claims(), publicPem)),
      'alg none': reason(verify, `${b64({ alg: 'none' })}.${b64(claims())}.`),
      RS512: reason(verify, sign({ alg: 'RS512' }, claims(), rsa.privateKey)),
      expired: reason(verify, sign({ alg: 'RS256' }, claims({ exp: now() - 3600 }), rsa.privateKey)),
      'no exp': reason(verify, sign({ alg: 'RS256' }, { ...alice(), iss: ISSUER }, rsa.privateKey)),
      'another issuer': reason(verify, sign({ alg: 'RS256' }, claims({ iss: 'https://evil.example' }), rsa.privateKey)),
      'the alerter as sub': reason(verify, sign({ alg: 'RS256' }, claims({ sub: 'vigil-alerter' }), rsa.privateKey)),
    }).toEqual({
      'another key': 'bad_signature',
      'kid of another key': 'bad_signature',
      'unknown kid': 'unknown_key',
      'no kid among several keys': 'unknown_key',
      'HMAC with the public key as secret': 'bad_algorithm',
      'alg none': 'bad_algorithm',
      RS512: 'bad_algorithm',
      expired: 'expired',
      'no exp': 'missing_claim',
      'another issuer': 'wrong_issuer',
      'the alerter as sub': 'reserved_subject',
    });
  });

  it('with JWT_SECRET too, accepts both HS256 and the keys', () => {
    const secret = crypto.randomBytes(48).toString('base64');
    const both = createTokenVerifier(loadConfig({ ...env, JWT_SECRET: secret }).auth);
    expect(both(sign({ alg: 'HS256' }, claims(), secret))).toEqual(alice());
    expect(both(sign({ alg: 'RS256' }, claims(), rsa.privateKey))).toEqual(alice());
  });

  it('reports every bad key file as a configuration problem', () => {
    const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const weakFile = write('weak.pem', weak.export({ type: 'spki', format: 'pem' }).toString());
    const p384 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
    const badJwks = write(
      'bad-jwks.json',
      JSON.stringify({
        keys: [
          { ...ec1.publicKey.export({ format: 'jwk' }) },
          { ...p384, kid: 'p384' },
          { ...ec1.privateKey.export({ format: 'jwk' }), kid: 'private' },
          { ...ec1.publicKey.export({ format: 'jwk' }), kid: 'mislabelled', alg: 'RS256' },
        ],
      }),
    );
    let error: unknown;
    try {
      loadConfig({ NODE_ENV: 'production', JWT_PUBLIC_KEY_FILE: weakFile, JWT_JWKS_FILE: badJwks });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      `JWT_PUBLIC_KEY_FILE=${path.join(dir, 'weak.pem')}: RSA keys must have at least 2048 bits`,
      `JWT_JWKS_FILE=${badJwks} keys[0] must have a \`kid\``,
      `JWT_JWKS_FILE=${badJwks} keys[1]: EC keys must be on P-256 (ES256); this one is on secp384r1`,
      `JWT_JWKS_FILE=${badJwks} keys[2] is a private key: publish only the public part`,
      `JWT_JWKS_FILE=${badJwks} keys[3] says alg RS256; vigil verifies this key type with ES256`,
      'JWT_SECRET is required when NODE_ENV=production (only development and test may use the public development ' +
        'secret): make one with `openssl rand -base64 48` and pass it as JWT_SECRET, or set JWT_PUBLIC_KEY_FILE / ' +
        'JWT_JWKS_FILE',
    ]);
    const absent = path.join(dir, 'absent.json');
    expect(() => loadConfig({ JWT_JWKS_FILE: absent })).toThrow(`JWT_JWKS_FILE=${absent} cannot be read (ENOENT)`);
  });
});

describe('token failure reasons', () => {
  it('are each documented in docs/errors.md (the 401 answer names them in details.reason)', () => {
    const doc = fs.readFileSync(path.join(ROOT_DIR, 'docs', 'errors.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual([...TOKEN_FAILURES]);
  });
});
