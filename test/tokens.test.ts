/**
 * The token matrix, through the real routes: for each role, every kind of flawed token (no exp, an expired one, no
 * iss, a wrong one, an nbf in the future, subjects of bad shape, subjects naming the system) answers 401 with the
 * reason in `details.reason`, and the same claims done right are let through. And the impersonation it closes: a
 * user token whose sub is the alerter's saw and edited every incident the alerter opened.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../bin/runtime.ts';
import { ALERTER_ACTOR, ANALYST_ACTOR } from '../shared/auth/identity.ts';
import { ROLES } from '../shared/auth/policy.ts';
import { CLOCK_TOLERANCE_MS, type TokenFailure } from '../shared/auth/verify.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';

const INCIDENTS = '/api/v1/monitoring/incidents';
const HOUR_SECONDS = 3600;
const TOLERANCE_SECONDS = CLOCK_TOLERANCE_MS / 1000;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('bearer tokens: required claims, nbf, subjects', () => {
  let ctx: TestContext;
  let api: Runtime;
  let sign: (claims: Record<string, unknown>) => string;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query', { QUERY_FOLD_INTERVAL_SECONDS: '3600', INCIDENTS_POLL_MS: '600000' });
    const key = ctx.config.auth.secret!;
    // Signed by hand: each token carries exactly the claims listed, even those a signing library would refuse.
    sign = (claims) => {
      const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
      return `${input}.${crypto.createHmac('sha256', key).update(input).digest('base64url')}`;
    };
  });
  afterAll(() => ctx?.cleanup());

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const get = (url: string, token: string) => api.app.inject({ method: 'GET', url, headers: bearer(token) });
  const valid = (role: string, more: Record<string, unknown> = {}) => ({
    sub: 'user-1',
    role,
    iss: ctx.config.auth.issuer,
    iat: now(),
    exp: now() + HOUR_SECONDS,
    ...more,
  });
  const without = (claims: Record<string, unknown>, name: string) =>
    Object.fromEntries(Object.entries(claims).filter(([k]) => k !== name));

  const flawed: [string, (role: string) => Record<string, unknown>, TokenFailure][] = [
    ['no exp (would never expire)', (role) => without(valid(role), 'exp'), 'missing_claim'],
    ['exp in the past', (role) => valid(role, { iat: now() - 600, exp: now() - TOLERANCE_SECONDS - 60 }), 'expired'],
    ['exp not a number', (role) => valid(role, { exp: 'tomorrow' }), 'invalid_claim'],
    ['no iss', (role) => without(valid(role), 'iss'), 'missing_claim'],
    ['another iss', (role) => valid(role, { iss: 'someone-else' }), 'wrong_issuer'],
    ['an iss that only starts like ours', (role) => valid(role, { iss: 'vigil-x' }), 'wrong_issuer'],
    ['nbf in the future', (role) => valid(role, { nbf: now() + TOLERANCE_SECONDS + 120 }), 'not_yet_valid'],
    ['no sub', (role) => without(valid(role), 'sub'), 'bad_subject'],
    ['empty sub', (role) => valid(role, { sub: '' }), 'bad_subject'],
    ['numeric sub', (role) => valid(role, { sub: 42 }), 'bad_subject'],
    ['sub of 256 characters', (role) => valid(role, { sub: 'a'.repeat(256) }), 'bad_subject'],
    ['sub with a space', (role) => valid(role, { sub: 'alice smith' }), 'bad_subject'],
    ['sub with a control character', (role) => valid(role, { sub: 'alice\u0000' }), 'bad_subject'],
    ['sub with a look-alike letter', (role) => valid(role, { sub: 'vіgil-alerter' }), 'bad_subject'], // Cyrillic і
    ['sub starting with punctuation', (role) => valid(role, { sub: '-alice' }), 'bad_subject'],
    ['sub of the alerter', (role) => valid(role, { sub: ALERTER_ACTOR }), 'reserved_subject'],
    ['sub of the alerter in capitals', (role) => valid(role, { sub: 'VIGIL-ALERTER' }), 'reserved_subject'],
    ['sub of the analysis', (role) => valid(role, { sub: ANALYST_ACTOR }), 'reserved_subject'],
    ['sub in the vigil- namespace', (role) => valid(role, { sub: 'vigil-maintenance' }), 'reserved_subject'],
    ['sub of a direct Kafka producer', (role) => valid(role, { sub: 'kafka:billing' }), 'reserved_subject'],
    ['no role', (role) => without(valid(role), 'role'), 'bad_role'],
  ];

  for (const role of ROLES) {
    describe(`as ${role}`, () => {
      for (const [name, claims, reason] of flawed) {
        it(`refuses a token with ${name}: 401 ${reason}`, async () => {
          const res = await get(INCIDENTS, sign(claims(role)));
          expect(res.statusCode, res.body).toBe(401);
          expect(res.json()).toEqual({
            success: false,
            error: {
              code: 'VIGIL_ERR_UNAUTHORIZED',
              message: expect.stringMatching(/^invalid bearer token: /),
              details: { reason },
            },
          });
        });
      }

      it('accepts the same claims done right: exp, iss, a past nbf, subjects identity providers issue', async () => {
        const uuid = '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d';
        const subs = ['user-1', uuid, 'auth0|5f1c', 'alice@example.com', 'https://idp.example/u/7', 'a'.repeat(255)];
        for (const sub of subs) {
          const res = await get(INCIDENTS, sign(valid(role, { sub, nbf: now() - 60 })));
          expect(res.statusCode, `${sub}: ${res.body}`).toBe(200);
          expect(res.json()).toEqual({ success: true, data: [], limit: 50, offset: 0, has_more: false });
        }
      });

      it('tolerates clocks a little apart (nbf and exp within the tolerance)', async () => {
        const res = await get(INCIDENTS, sign(valid(role, { nbf: now() + 5, exp: now() - 5 })));
        expect(res.statusCode, res.body).toBe(200);
      });
    });
  }

  it('names the missing and malformed Authorization header', async () => {
    const none = await api.app.inject({ method: 'GET', url: INCIDENTS });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.details).toEqual({ reason: 'missing_token' });
    const basic = await api.app.inject({ method: 'GET', url: INCIDENTS, headers: { authorization: 'Basic dXNlcjpw' } });
    expect(basic.statusCode).toBe(401);
    expect(basic.json().error).toEqual({
      code: 'VIGIL_ERR_UNAUTHORIZED',
      message: 'the Authorization header must be `Bearer <token>`',
      details: { reason: 'malformed_token' },
    });
  });

  it("a user token claiming the alerter's sub neither sees nor edits the incidents the alerter opened", async () => {
    const [{ id }] = (
      await ctx.db.query<{ id: string }>(
        `INSERT INTO incidents (id, title, severity, created_by, started_at)
       VALUES ('0190b1c2-7a4e-7cc0-8a6e-00000000a1e7', 'cpu_high {host="a"}', 'high', $1, now()) RETURNING id`,
        [ALERTER_ACTOR],
      )
    ).rows;
    const forged = sign(valid('user', { sub: ALERTER_ACTOR }));
    const list = await get(INCIDENTS, forged);
    expect(list.statusCode).toBe(401);
    expect(list.json().error.details).toEqual({ reason: 'reserved_subject' });
    const edit = await api.app.inject({
      method: 'PUT',
      url: `${INCIDENTS}/${id}`,
      headers: bearer(forged),
      payload: { status: 'investigating' },
    });
    expect(edit.statusCode).toBe(401);
    const { rows } = await ctx.db.query('SELECT status FROM incidents WHERE id = $1', [id]);
    expect(rows).toEqual([{ status: 'open' }]);
    // An ordinary user does not see it either; a moderator does.
    expect((await get(INCIDENTS, ctx.token('user'))).json().data).toEqual([]);
    expect((await get(INCIDENTS, ctx.token('moderator'))).json().data.map((i: { id: string }) => i.id)).toEqual([id]);
  });
});
