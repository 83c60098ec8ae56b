import { describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_LIMITS, validateEvent, type EventContext } from './event.ts';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const ctx: EventContext = {
  window: { now: NOW, retentionDays: 30, futureGraceSeconds: 600 },
  limits: DEFAULT_EVENT_LIMITS,
  createdBy: 'u1',
};

describe('validateEvent', () => {
  it('accepts the contract example and fills id, timestamp and created_by', () => {
    const result = validateEvent(
      {
        event_type: 'log',
        source: 'web-server',
        message: 'Request processed successfully',
        level: 'info',
        tags: { service: 'api' },
        payload: { request_id: 'req-123', duration_ms: 245 },
      },
      ctx,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      event_type: 'log',
      source: 'web-server',
      message: 'Request processed successfully',
      level: 'info',
      tags: '{"service":"api"}',
      payload: '{"request_id":"req-123","duration_ms":245}',
      timestamp: NOW,
      created_by: 'u1',
      id_given: false,
    });
    const given = validateEvent(
      { id: '0190B1C2-7A4E-4CC0-8A6E-1D2F3A4B5C6D', event_type: 'log', source: 'web-server' },
      ctx,
    );
    expect(given.ok && [given.value.id, given.value.id_given]).toEqual(['0190b1c2-7a4e-4cc0-8a6e-1d2f3a4b5c6d', true]);
  });

  it('reports one error per offending field, naming the rule', () => {
    const result = validateEvent(
      {
        event_type: 'bogus',
        source: '',
        level: 'loud',
        tags: [],
        payload: 'x',
        timestamp: 'yesterday',
        id: 'nope',
        extra: 1,
      },
      { ...ctx, index: 3 },
    );
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          index: 3,
          field: 'extra',
          message: 'is not a known field (known: id, event_type, source, message, level, tags, payload, timestamp)',
        },
        { index: 3, field: 'id', message: 'must be a UUID (e.g. 0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d), got "nope"' },
        { index: 3, field: 'event_type', message: 'must be one of log, metric, trace, alert, got "bogus"' },
        { index: 3, field: 'source', message: 'must not be empty' },
        { index: 3, field: 'level', message: 'must be one of trace, debug, info, warn, error, fatal, got "loud"' },
        { index: 3, field: 'tags', message: 'must be a JSON object, got an array' },
        { index: 3, field: 'payload', message: 'must be a JSON object, got "x"' },
        {
          index: 3,
          field: 'timestamp',
          message:
            'must be an ISO 8601 date-time with a zone (e.g. 2024-01-01T00:00:00Z) or epoch milliseconds, got ' +
            '"yesterday"',
        },
      ],
    });
  });

  it('rejects timestamps outside [now - retention, now + grace], naming the window', () => {
    const old = validateEvent({ event_type: 'log', source: 's', timestamp: '2026-10-01T00:00:00Z' }, ctx);
    expect(old).toEqual({
      ok: false,
      errors: [
        {
          field: 'timestamp',
          message:
            'must be between 2026-10-27T12:00:00.000Z and 2026-11-26T12:10:00.000Z (retention 30 days, future grace ' +
            '600 s), got 2026-10-01T00:00:00.000Z',
        },
      ],
    });
    expect(validateEvent({ event_type: 'log', source: 's', timestamp: NOW + 601_000 }, ctx).ok).toBe(false);
    expect(validateEvent({ event_type: 'log', source: 's', timestamp: '2026-11-26T13:05:00+01:00' }, ctx).ok).toBe(
      true,
    );
  });

  it('refuses NUL characters, which PostgreSQL cannot store', () => {
    const result = validateEvent({ event_type: 'log', source: 'a\u0000b', tags: { 'k\u0000': 1 } }, ctx);
    expect(result).toEqual({
      ok: false,
      errors: [
        { field: 'source', message: 'must not contain the NUL character' },
        { field: 'tags', message: 'must not contain the NUL character' },
      ],
    });
  });

  it('derives the timestamp of a client-supplied UUIDv7 id so retries keep the same primary key', () => {
    const id = `${(NOW - 5000)
      .toString(16)
      .padStart(12, '0')
      .replace(/^(.{8})(.{4})$/, '$1-$2')}-7abc-8def-0123456789ab`;
    const first = validateEvent({ id, event_type: 'log', source: 's' }, ctx);
    const retry = validateEvent(
      { id, event_type: 'log', source: 's' },
      { ...ctx, window: { ...ctx.window, now: NOW + 3000 } },
    );
    expect(first.ok && retry.ok && first.value.timestamp).toBe(NOW - 5000);
    expect(retry.ok && retry.value.timestamp).toBe(NOW - 5000);
  });

  it('enforces size limits', () => {
    const limits = { ...DEFAULT_EVENT_LIMITS, maxTags: 1, payloadMaxBytes: 10 };
    const result = validateEvent(
      { event_type: 'log', source: 's', tags: { a: 1, b: 2 }, payload: { big: 'x'.repeat(20) } },
      { ...ctx, limits },
    );
    expect(result).toEqual({
      ok: false,
      errors: [
        { field: 'tags', message: 'must have at most 1 keys, got 2' },
        { field: 'payload', message: 'must be at most 10 bytes as JSON, got 30' },
      ],
    });
  });
});

describe("the alerter's source", () => {
  const alert = { event_type: 'alert', source: 'vigil-alerter', message: '[FIRING] x' };
  it('is refused to anyone but the alerter, in any letter case, naming the field', () => {
    for (const source of ['vigil-alerter', 'Vigil-ALERTER']) {
      const result = validateEvent({ ...alert, source }, ctx);
      expect(result).toEqual({
        ok: false,
        errors: [
          {
            field: 'source',
            message: `"${source}" is reserved for vigil's own alert events; name your service instead`,
          },
        ],
      });
    }
    expect(validateEvent({ ...alert, source: 'vigil-alerter-like' }, ctx).ok).toBe(true);
  });
  it('is accepted from the alerter', () => {
    const result = validateEvent(alert, { ...ctx, createdBy: 'vigil-alerter' });
    expect(result).toMatchObject({ ok: true, value: { source: 'vigil-alerter', created_by: 'vigil-alerter' } });
  });
});
