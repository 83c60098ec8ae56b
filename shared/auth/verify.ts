/**
 * Bearer-token verification, compiled once per process. A token is accepted only when
 *   - its header names an algorithm vigil was given a key for: HS256 with JWT_SECRET, RS256/ES256 with a public key
 *     (JWT_PUBLIC_KEY_FILE, or the key of JWT_JWKS_FILE its `kid` names); `alg: none` and every other one are refused,
 *     and an HMAC is never checked with a public key (each key verifies only its own algorithm);
 *   - its signature checks out;
 *   - it carries `exp` (in the future) and `iss` (= JWT_ISSUER); `nbf`, when present, is in the past (each within
 *     CLOCK_TOLERANCE_MS, for clocks a little apart);
 *   - `sub` is a well-formed subject that does not name a system actor (shared/auth/identity.ts) and `role` is one of
 *     user, moderator, admin.
 * Every refusal carries a stable reason (TokenFailure), which the 401 answer names in `details.reason` and the
 * auth plugin leaves on the request (request.authFailure) for whoever records failed authentications.
 */
import { createDecoder, createVerifier, TokenError } from 'fast-jwt';
import { RESERVED_RULE, SUBJECT_RULE, subjectProblem } from './identity.ts';
import { isUserRole, ROLES, type UserRole } from './policy.ts';

export const TOKEN_FAILURES = [
  'missing_token',
  'malformed_token',
  'bad_algorithm',
  'bad_signature',
  'unknown_key',
  'missing_claim',
  'invalid_claim',
  'expired',
  'not_yet_valid',
  'wrong_issuer',
  'bad_subject',
  'reserved_subject',
  'bad_role',
] as const;
export type TokenFailure = (typeof TOKEN_FAILURES)[number];

export const CLOCK_TOLERANCE_MS = 30_000;
const REQUIRED_CLAIMS = ['exp', 'iss'];
const ECHO_MAX_CHARS = 64;

export interface Principal {
  sub: string;
  role: UserRole;
}

export type PublicKeyAlgorithm = 'RS256' | 'ES256';

/** A public key tokens may be signed for: PEM text, the algorithm it verifies, and its JWKS `kid` (if any). */
export interface VerificationKey {
  kid: string | null;
  alg: PublicKeyAlgorithm;
  pem: string;
}

export interface VerifierOptions {
  /** HS256 secret; null when only public keys verify tokens. */
  secret: string | null;
  issuer: string;
  keys?: readonly VerificationKey[];
}

export class TokenRejected extends Error {
  constructor(
    readonly reason: TokenFailure,
    message: string,
  ) {
    super(message);
    this.name = 'TokenRejected';
  }
}

type Verify = (token: string) => Record<string, unknown>;

export function createTokenVerifier(opts: VerifierOptions): (token: string) => Principal {
  const compile = (key: string, alg: string): Verify =>
    createVerifier({
      key,
      algorithms: [alg as 'HS256'],
      allowedIss: opts.issuer,
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: CLOCK_TOLERANCE_MS,
      cache: false,
    });
  const hmac = opts.secret === null ? null : compile(opts.secret, 'HS256');
  const keys = (opts.keys ?? []).map((k) => ({ ...k, verify: compile(k.pem, k.alg) }));
  const decodeHeader = createDecoder({ complete: true });
  const accepted = [...(hmac ? ['HS256'] : []), ...new Set(keys.map((k) => k.alg))];

  const pick = (header: { alg?: unknown; kid?: unknown }): Verify => {
    if (header.alg === 'HS256' && hmac) return hmac;
    const candidates = keys.filter((k) => k.alg === header.alg);
    if (candidates.length === 0) {
      const alg = quoted(header.alg);
      const allowed = accepted.join(' or ');
      throw new TokenRejected('bad_algorithm', `tokens must be signed with ${allowed}; this one says ${alg}`);
    }
    const byKid = typeof header.kid === 'string' ? candidates.find((k) => k.kid === header.kid) : undefined;
    if (byKid) return byKid.verify;
    const [only] = candidates;
    if (candidates.length === 1 && (only.kid === null || header.kid === undefined)) return only.verify;
    throw new TokenRejected('unknown_key', `no verification key has kid ${quoted(header.kid)}`);
  };

  return (token: string): Principal => {
    let header: { alg?: unknown; kid?: unknown };
    try {
      header = (decodeHeader(token) as { header: { alg?: unknown; kid?: unknown } }).header;
    } catch (error) {
      throw new TokenRejected('malformed_token', `the token is not a JWT (${(error as Error).message})`);
    }
    let claims: Record<string, unknown>;
    try {
      claims = pick(header)(token);
    } catch (error) {
      if (error instanceof TokenRejected) throw error;
      throw translate(error as TokenError);
    }
    const problem = subjectProblem(claims.sub);
    if (problem === 'bad_subject') {
      throw new TokenRejected(problem, `the token's \`sub\` must be ${SUBJECT_RULE}`);
    }
    if (problem === 'reserved_subject') {
      throw new TokenRejected(problem, `the token's \`sub\` ${JSON.stringify(claims.sub)} is ${RESERVED_RULE}`);
    }
    if (!isUserRole(claims.role)) {
      throw new TokenRejected('bad_role', `the token's \`role\` must be one of ${ROLES.join(', ')}`);
    }
    return { sub: claims.sub as string, role: claims.role };
  };
}

/** A header value for a message, bounded: the header is the caller's. */
function quoted(value: unknown): string {
  return JSON.stringify(value ?? null).slice(0, ECHO_MAX_CHARS);
}

function translate(error: TokenError): TokenRejected {
  const message = error.message.replace(/\.$/, '');
  const rejected = (reason: TokenFailure, text: string) => new TokenRejected(reason, `${text} (${message})`);
  switch (error.code) {
    case TokenError.codes.expired:
      return rejected('expired', 'the token has expired');
    case TokenError.codes.inactive:
      return rejected('not_yet_valid', 'the token is not valid yet (nbf in the future)');
    case TokenError.codes.missingRequiredClaim:
      return rejected('missing_claim', 'the token must carry exp and iss');
    case TokenError.codes.invalidAlgorithm:
      return rejected('bad_algorithm', "the token's algorithm is not accepted");
    case TokenError.codes.invalidSignature:
    case TokenError.codes.missingSignature:
      return rejected('bad_signature', "the token's signature does not verify");
    case TokenError.codes.invalidClaimType:
      return rejected('invalid_claim', 'a claim has the wrong type');
    case TokenError.codes.invalidClaimValue:
      return /\biss\b/.test(message)
        ? rejected('wrong_issuer', "the token's iss must be the configured issuer (JWT_ISSUER)")
        : rejected('invalid_claim', 'a claim has a value that is not accepted');
    default:
      return rejected('malformed_token', 'the token cannot be read');
  }
}
