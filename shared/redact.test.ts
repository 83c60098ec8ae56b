import { describe, expect, it } from 'vitest';
import { createRedactor, redact, REDACTED } from './redact.ts';

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
    expect(only({ ssn: '1', password: 'p', user_ssn: '2' })).toEqual({ ssn: REDACTED, password: 'p', user_ssn: REDACTED });
    expect(createRedactor([])({ password: 'p' })).toEqual({ password: 'p' });
  });

  it('ends on cyclic input instead of recursing forever', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => redact(cyclic)).not.toThrow();
  });
});
