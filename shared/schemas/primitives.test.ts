import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  isUuid,
  parseDuration,
  parseDurationOrSeconds,
  parseIsoTime,
  PATTERN_RULES,
  durationSchema,
  isoTimeSchema,
  uuidSchema,
} from './primitives.ts';

describe('durations (Prometheus grammar)', () => {
  it('parses every unit, largest first, each once', () => {
    const cases: [string, number | null][] = [
      ['500ms', 500],
      ['90s', 90_000],
      ['5m', 300_000],
      ['1h30m', 5_400_000],
      ['1d', 86_400_000],
      ['1w2d', 9 * 86_400_000],
      ['1y', 365 * 86_400_000],
      ['1m500ms', 60_500],
      ['2h0m1s', 7_201_000],
      ['30m1h', null],
      ['5', null],
      ['', null],
      ['1h1h', null],
      ['1.5h', null],
      ['-5m', null],
      ['5 m', null],
      ['m', null],
      ['5M', null],
      ['1ms1s', null],
    ];
    expect(cases.map(([text]) => [text, parseDuration(text)])).toEqual(cases);
  });

  it('takes a number of seconds where an API parameter does', () => {
    const cases: [string, number | null][] = [
      ['15', 15_000],
      ['0.5', 500],
      ['0', 0],
      ['1m', 60_000],
      ['1e3', null],
      ['-1', null],
      [' 1', null],
      ['.5', null],
    ];
    expect(cases.map(([text]) => [text, parseDurationOrSeconds(text)])).toEqual(cases);
  });

  it('formats the shortest spelling, which parses back', () => {
    for (const ms of [0, 1500, 5_400_000, 9 * 86_400_000, 366 * 86_400_000]) {
      expect(parseDuration(formatDuration(ms)) ?? 0).toBe(ms);
    }
    expect([formatDuration(5_400_000), formatDuration(0), formatDuration(1500)]).toEqual(['1h30m', '0s', '1s500ms']);
  });

  it('the schema pattern accepts exactly what the parser does', () => {
    const pattern = new RegExp(durationSchema.pattern, 'u');
    for (const text of ['15', '0.5', '1h30m', '5m', '1y', '500ms', '5x', '', '1h1h', '30m1h', '-1']) {
      expect([text, pattern.test(text)]).toEqual([text, parseDurationOrSeconds(text) !== null]);
    }
    expect(PATTERN_RULES[durationSchema.pattern]).toMatch(/duration/);
  });
});

describe('date-times and UUIDs', () => {
  it('parses ISO 8601 with a zone only', () => {
    expect(parseIsoTime('2024-01-01T00:00:00Z')).toBe(Date.UTC(2024, 0, 1));
    expect(parseIsoTime('2024-01-01t01:00:00.5+01:00')).toBe(Date.UTC(2024, 0, 1, 0, 0, 0, 500));
    expect([
      parseIsoTime('2024-01-01T00:00:00'),
      parseIsoTime('2024-13-01T00:00:00Z'),
      parseIsoTime('1704067200'),
    ]).toEqual([null, null, null]);
    expect(new RegExp(isoTimeSchema.pattern, 'u').test('2024-01-01T00:00:00Z')).toBe(true);
  });

  it('checks UUIDs in either case', () => {
    expect([
      isUuid('0190B1C2-7a4e-7cc0-8a6e-1d2f3a4b5c6d'),
      isUuid('0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6'),
      isUuid('x'),
    ]).toEqual([true, false, false]);
    expect(new RegExp(uuidSchema.pattern, 'u').test('0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d')).toBe(true);
  });
});
