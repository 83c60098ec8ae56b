import { describe, expect, it } from 'vitest';
import { escapeCopyText, formatEventRow } from './copy-format.ts';

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
    });
    expect(row).toBe('0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d\t2026-11-26T12:00:00.123Z\tlog\tapi\\tgw\t\\N\t\\N\t{"q":"a\\\\"b"}\t{}\t\\N\n');
  });
});
