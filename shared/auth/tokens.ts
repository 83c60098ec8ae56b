/**
 * Signing tokens for local use (`npm run token`) and tests. Tokens are HS256 with claims sub, role, iss, iat, exp.
 */
import { createSigner } from 'fast-jwt';
import type { UserRole } from './policy.ts';
import { MS_PER_SECOND } from '../units.ts';

export interface TokenRequest {
  role: UserRole;
  sub: string;
  ttlSeconds: number;
}

export function signToken(auth: { secret: string | null; issuer: string }, request: TokenRequest): string {
  if (auth.secret === null) throw new Error('JWT_SECRET is unset (tokens are verified with public keys only)');
  const sign = createSigner({
    key: auth.secret,
    algorithm: 'HS256',
    expiresIn: request.ttlSeconds * MS_PER_SECOND,
    iss: auth.issuer,
  });
  return sign({ sub: request.sub, role: request.role });
}

/** Parses durations like 30s, 15m, 1h, 7d (or plain seconds). */
export function parseTtl(text: string): number | null {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!match) return null;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2]]!;
  const seconds = Number(match[1]) * unit;
  return seconds > 0 ? seconds : null;
}
