import { describe, expect, it } from 'vitest';
import { createRedactor, redact, REDACTED, redactSecrets } from './redact.ts';

describe('redact', () => {
  it('replaces values under sensitive keys at any depth, whatever the spelling', () => {
    const input = {
      user_id: 42,
      Password: 'hunter2',
      headers: { Authorization: 'Bearer abc', 'X-Api-Key': 'k', accept: 'json', 'Set-Cookie': ['a=b'] },
      nested: [{ refresh_token: 't', ok: true }, 'plain', { deeper: { clientSecret: { any: 'shape' } } }],
      apiKey: 7,
      card_number: '4111111111111111',
    };
    expect(redact(input)).toEqual({
      user_id: 42,
      Password: REDACTED,
      headers: { Authorization: REDACTED, 'X-Api-Key': REDACTED, accept: 'json', 'Set-Cookie': REDACTED },
      nested: [{ refresh_token: REDACTED, ok: true }, 'plain', { deeper: { clientSecret: REDACTED } }],
      apiKey: REDACTED,
      card_number: REDACTED,
    });
  });

  it('never mutates the input and returns it unchanged when nothing is sensitive', () => {
    const clean = { a: 1, b: { c: [1, 2, { d: 'x' }] } };
    expect(redact(clean)).toBe(clean);
    const dirty = { keep: { same: true }, password: 'p' };
    const out = redact(dirty);
    expect(dirty.password).toBe('p');
    expect(out.keep).toBe(dirty.keep);
  });

  it('passes primitives and null through', () => {
    expect([redact(null), redact(3), redact('password'), redact(undefined)]).toEqual([null, 3, 'password', undefined]);
  });

  it('uses a custom deny-list', () => {
    const only = createRedactor(['ssn']);
    expect(only({ ssn: '1', password: 'p', user_ssn: '2' })).toEqual({
      ssn: REDACTED,
      password: 'p',
      user_ssn: REDACTED,
    });
    expect(createRedactor([])({ password: 'p' })).toEqual({ password: 'p' });
  });

  it('matches short entries (auth, pwd, pass, jwt, dsn) as whole words of the key only, longer ones anywhere', () => {
    const input = {
      auth: 'a',
      'X-Auth': 'b',
      basicAuth: 'c',
      auth_header: 'd',
      pwd: 'e',
      db_pass: 'f',
      smtpPass: 'g',
      PASS: 'h',
      jwt: 'i',
      id_jwt: 'j',
      sentry_dsn: 'k',
      DSN: 'l',
      bearer: 'm',
      bearerToken: 'n',
      x_bearer_value: 'o',
      author: 'keep',
      oauth_provider: 'keep',
      passenger: 'keep',
      compass: 'keep',
      bypassed: 'keep',
      jwtish: 'keep',
      dsnx: 'keep',
    };
    const out = redact(input) as Record<string, unknown>;
    expect(
      Object.entries(out)
        .filter(([, v]) => v === REDACTED)
        .map(([k]) => k),
    ).toEqual(Object.keys(input).filter((k) => input[k as keyof typeof input] !== 'keep'));
    expect(
      Object.entries(out)
        .filter(([, v]) => v === 'keep')
        .map(([k]) => k),
    ).toEqual(['author', 'oauth_provider', 'passenger', 'compass', 'bypassed', 'jwtish', 'dsnx']);
  });

  it('redacts the value of {name|key, value} objects that name a sensitive key, in lists and alone', () => {
    const input = {
      headers: [
        { name: 'Authorization', value: 'Bearer x' },
        { name: 'Accept', value: 'json' },
        { name: 'X-Api-Key', value: 'k', extra: 1 },
      ],
      attributes: [
        { key: 'db.password', value: { stringValue: 'p' } },
        { key: 'http.method', value: { stringValue: 'GET' } },
      ],
      single: { name: 'cookie', value: 'c=1' },
      no_value: { name: 'password' },
      not_a_name: { name: 7, value: 'v' },
    };
    expect(redact(input)).toEqual({
      headers: [
        { name: 'Authorization', value: REDACTED },
        { name: 'Accept', value: 'json' },
        { name: 'X-Api-Key', value: REDACTED, extra: 1 },
      ],
      attributes: [
        { key: 'db.password', value: REDACTED },
        { key: 'http.method', value: { stringValue: 'GET' } },
      ],
      single: { name: 'cookie', value: REDACTED },
      no_value: { name: 'password' },
      not_a_name: { name: 7, value: 'v' },
    });
    expect(input.headers[0].value).toBe('Bearer x');
  });

  it('redacts metric labels (a flat map) by key', () => {
    expect(redact({ method: 'GET', api_key: 'k', user_pass: 'p' })).toEqual({
      method: 'GET',
      api_key: REDACTED,
      user_pass: REDACTED,
    });
  });

  it('ends on cyclic input instead of recursing forever', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => redact(cyclic)).not.toThrow();
  });
});

describe('redactSecrets', () => {
  it('redacts bearer tokens, keeping the scheme', () => {
    expect(redactSecrets('call failed: Authorization: Bearer abc.DEF-123_x~+/== (401)')).toBe(
      `call failed: Authorization: Bearer ${REDACTED} (401)`,
    );
    expect(redactSecrets('bearer   tok3n')).toBe(`Bearer ${REDACTED}`);
  });

  it('redacts JWTs', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    expect(redactSecrets(`token=${jwt}; next`)).toBe(`token=${REDACTED}; next`);
    expect(redactSecrets('eyJ alone is not a token')).toBe('eyJ alone is not a token');
  });

  it('redacts AWS access key ids', () => {
    expect(redactSecrets('using AKIAIOSFODNN7EXAMPLE for s3')).toBe(`using ${REDACTED} for s3`);
    expect(redactSecrets('ASIAY34FZKBOKMUTVV7A,')).toBe(`${REDACTED},`);
    expect(redactSecrets('AKIAIOSFODNN7EXAMPLEX is longer')).toBe('AKIAIOSFODNN7EXAMPLEX is longer');
  });

  it('redacts card numbers that pass the Luhn check, plain or grouped, and keeps other long numbers', () => {
    expect(redactSecrets('card 4111111111111111 declined')).toBe(`card ${REDACTED} declined`);
    expect(redactSecrets('card 4111 1111 1111 1111, amex 3782-822463-10005')).toBe(
      `card ${REDACTED}, amex ${REDACTED}`,
    );
    expect(redactSecrets('order 4111111111111112 shipped')).toBe('order 4111111111111112 shipped');
    expect(redactSecrets('took 1234 ms at 2024-01-01T00:00:00Z, id 12345678')).toBe(
      'took 1234 ms at 2024-01-01T00:00:00Z, id 12345678',
    );
  });

  it('returns the same string when nothing is secret, and stays linear on long hostile text', () => {
    const text = 'Request processed successfully';
    expect(redactSecrets(text)).toBe(text);
    const hostile =
      `${'1 '.repeat(50_000)}x ${'Bearer '.repeat(10_000)} ${'eyJ.'.repeat(10_000)} ` + `${'A'.repeat(100_000)}`;
    const started = performance.now();
    redactSecrets(hostile);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
