/**
 * Prints a bearer token for local use:
 *   npm run --silent token -- --role moderator [--sub <uuid>] [--ttl 1h]
 */
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../shared/config.ts';
import { RESERVED_RULE, SUBJECT_RULE, subjectProblem } from '../shared/auth/identity.ts';
import { isUserRole, ROLES } from '../shared/auth/policy.ts';
import { parseTtl, signToken } from '../shared/auth/tokens.ts';

function fail(message: string): never {
  console.error(`${message}\nusage: npm run --silent token -- --role ${ROLES.join('|')} [--sub <uuid>] [--ttl 1h]`);
  process.exit(2);
}

try {
  const { values } = parseArgs({
    options: {
      role: { type: 'string', default: 'user' },
      sub: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
    },
    strict: true,
  });
  if (!isUserRole(values.role)) fail(`--role must be one of ${ROLES.join(', ')}`);
  const problem = values.sub === undefined ? null : subjectProblem(values.sub);
  if (problem === 'bad_subject') fail(`--sub must be ${SUBJECT_RULE}`);
  if (problem === 'reserved_subject') fail(`--sub ${values.sub} is ${RESERVED_RULE}`);
  const ttlSeconds = parseTtl(values.ttl!);
  if (ttlSeconds === null) fail('--ttl must look like 30s, 15m, 1h or 7d');
  const config = loadConfig(process.env);
  if (config.auth.secret === null) {
    fail('JWT_SECRET is unset: tokens are verified with public keys only; mint them with your identity provider');
  }
  if (config.auth.isDevSecret) console.error('note: signed with the public development secret');
  console.log(signToken(config.auth, { role: values.role, sub: values.sub ?? crypto.randomUUID(), ttlSeconds }));
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  fail((error as Error).message);
}
