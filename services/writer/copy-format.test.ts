import { describe, expect, it } from 'vitest';
import { escapeCopyText, formatEventRow, notableTags, isoTimestamp } from './copy-format.ts';
import type { EventRecord } from '../../shared/schemas/event.ts';

describe('COPY text format', () => {
  it('escapes backslash, tab, newline and carriage return', () => {
    expect(escapeCopyText('plain')).toBe('plain');
    expect(escapeCopyText('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
  });

  it('formats an event row in the contract column order with \\N for nulls', () => {
    const row = formatEventRow({
      id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d',
      event_type: 'log',
      source: 'api\tgw',
      message: null,
      level: null,
      tags: '{"q":"a\\"b"}',
      payload: '{}',
      timestamp: Date.parse('2026-11-26T12:00:00.123Z'),
      created_by: null,
      id_given: false,
    });
    expect(row).toBe(
      '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d\t2026-11-26T12:00:00.123Z\tlog\tapi\\tgw\t' +
        '\\N\t\\N\t{"q":"a\\\\"b"}\t{}\t\\N\t\\N\n',
    );
  });

  it('copies the tags of notable events into notable_tags only while the index entry stays bounded', () => {
    const event = (level: string | null, tags: string, eventType = 'log', source = 'api') =>
      ({
        id: '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d',
        event_type: eventType,
        source,
        message: null,
        level,
        tags,
        payload: '{}',
        timestamp: 0,
        created_by: null,
        id_given: false,
      }) as EventRecord;
    const small = '{"user":"u1","region":"eu"}';
    expect(notableTags(event('info', small))).toBeNull();
    expect(notableTags(event(null, small))).toBeNull();
    for (const level of ['warn', 'error', 'fatal']) expect(notableTags(event(level, small))).toBe(small);
    expect(notableTags(event(null, small, 'alert'))).toBe(small);
    // (2400 − 3 bytes of source) / 6: 399 bytes of tags fit, 400 do not.
    const sized = (bytes: number) => `{"k":"${'x'.repeat(bytes - 8)}"}`;
    expect(notableTags(event('error', sized(399)))).toBe(sized(399));
    expect(notableTags(event('error', sized(400)))).toBeNull();
    // Bytes, not characters: a three-byte source counts three times.
    expect(notableTags(event('error', sized(300), 'log', '€'.repeat(300)))).toBeNull();
    expect(formatEventRow(event('error', sized(8000))).endsWith('\t\\N\n')).toBe(true);
  });
});

describe('isoTimestamp', () => {
  it('is toISOString, for times in order, out of order, before 1970 and at the ends of the Date range', () => {
    const times = [0, -1, -999, -1000, -1001, 1, 999, 1000, 8.64e15, -8.64e15, 253402300799999, 253402300800000];
    let t = Date.parse('2026-12-07T04:00:00Z');
    for (let i = 0; i < 5000; i++) times.push((t += Math.floor(Math.random() * 700)));
    for (let i = 0; i < 2000; i++) times.push(Math.floor((Math.random() - 0.5) * 2 * 8.64e15));
    for (const ms of times) expect(isoTimestamp(ms), String(ms)).toBe(new Date(ms).toISOString());
  });
});
