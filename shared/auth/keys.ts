/**
 * Public keys that verify tokens an identity provider signs (RS256 or ES256), read once at startup from
 * JWT_PUBLIC_KEY_FILE (one PEM public key or certificate) and/or JWT_JWKS_FILE (a JSON Web Key Set, as an identity
 * provider publishes at its jwks_uri; a token's `kid` header picks the key). An RSA key verifies RS256 only, a P-256
 * EC key ES256 only; every problem is reported (as configuration problems), none is skipped silently.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { PublicKeyAlgorithm, VerificationKey } from './verify.ts';

const MIN_RSA_BITS = 2048;

export function loadVerificationKeys(pemFile: string, jwksFile: string, problems: string[]): VerificationKey[] {
  const keys: VerificationKey[] = [];
  if (pemFile !== '') {
    const text = readFile('JWT_PUBLIC_KEY_FILE', pemFile, problems);
    if (text !== null) {
      try {
        const key = text.includes('CERTIFICATE')
          ? new crypto.X509Certificate(text).publicKey
          : crypto.createPublicKey(text);
        const alg = algorithmOf(key);
        if (typeof alg === 'string') keys.push({ kid: null, alg, pem: pemOf(key) });
        else problems.push(`JWT_PUBLIC_KEY_FILE=${pemFile}: ${alg.problem}`);
      } catch (error) {
        const reason = (error as Error).message;
        problems.push(`JWT_PUBLIC_KEY_FILE=${pemFile} is not a PEM public key or certificate (${reason})`);
      }
    }
  }
  if (jwksFile !== '') {
    const text = readFile('JWT_JWKS_FILE', jwksFile, problems);
    if (text !== null) keys.push(...jwksKeys(jwksFile, text, problems));
  }
  return keys;
}

function jwksKeys(file: string, text: string, problems: string[]): VerificationKey[] {
  let set: unknown;
  try {
    set = JSON.parse(text);
  } catch (error) {
    problems.push(`JWT_JWKS_FILE=${file} is not JSON (${(error as Error).message})`);
    return [];
  }
  const entries = (set as { keys?: unknown })?.keys;
  if (!Array.isArray(entries) || entries.length === 0) {
    problems.push(`JWT_JWKS_FILE=${file} must be a JSON Web Key Set: {"keys": [ … ]} with at least one key`);
    return [];
  }
  const keys: VerificationKey[] = [];
  entries.forEach((jwk: Record<string, unknown>, index) => {
    const where = `JWT_JWKS_FILE=${file} keys[${index}]`;
    if (jwk === null || typeof jwk !== 'object') return void problems.push(`${where} must be an object`);
    if (jwk.use !== undefined && jwk.use !== 'sig') return; // encryption keys do not verify signatures
    if (typeof jwk.kid !== 'string' || jwk.kid === '') return void problems.push(`${where} must have a \`kid\``);
    if ('d' in jwk) return void problems.push(`${where} is a private key: publish only the public part`);
    try {
      const key = crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
      const alg = algorithmOf(key);
      if (typeof alg !== 'string') return void problems.push(`${where}: ${alg.problem}`);
      if (jwk.alg !== undefined && jwk.alg !== alg) {
        return void problems.push(`${where} says alg ${String(jwk.alg)}; vigil verifies this key type with ${alg}`);
      }
      keys.push({ kid: jwk.kid, alg, pem: pemOf(key) });
    } catch (error) {
      problems.push(`${where} is not a usable public key (${(error as Error).message})`);
    }
  });
  const kids = keys.map((k) => k.kid);
  if (new Set(kids).size !== kids.length) problems.push(`JWT_JWKS_FILE=${file} has two keys with the same kid`);
  return keys;
}

function algorithmOf(key: crypto.KeyObject): PublicKeyAlgorithm | { problem: string } {
  if (key.type !== 'public') return { problem: 'must be a public key' };
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) >= MIN_RSA_BITS) return 'RS256';
    return { problem: `RSA keys must have at least ${MIN_RSA_BITS} bits` };
  }
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'ES256';
    return { problem: `EC keys must be on P-256 (ES256); this one is on ${details.namedCurve}` };
  }
  return { problem: `unsupported key type ${key.asymmetricKeyType} (use RSA for RS256 or EC P-256 for ES256)` };
}

function pemOf(key: crypto.KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

function readFile(name: string, file: string, problems: string[]): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    problems.push(`${name}=${file} cannot be read (${reason})`);
    return null;
  }
}
