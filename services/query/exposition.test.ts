import { describe, expect, it } from 'vitest';
import { escapeHelp, escapeLabelValue, Exposition, formatValue } from './exposition.ts';
import { decodeCursor, encodeCursor, microsToIso } from './cursor.ts';

describe('exposition text format', () => {
  it('escapes label values (backslash, quote, newline) and help text (backslash, newline)', () => {
    expect(escapeLabelValue('C:\\dir "x"\nnext')).toBe('C:\\\\dir \\"x\\"\\nnext');
    expect(escapeHelp('a\\b\nc "d"')).toBe('a\\\\b\\nc "d"');
  });

  it('formats special values the way Prometheus parses them', () => {
    expect([NaN, Infinity, -Infinity, 0, 1.5, 1e21].map(formatValue)).toEqual([
      'NaN',
      '+Inf',
      '-Inf',
      '0',
      '1.5',
      '1e+21',
    ]);
  });

  it('writes one HELP and TYPE per family and leaves out families whose sample names are taken', () => {
    const out = new Exposition();
    out.add({ name: 'lat', type: 'histogram', help: 'h', samples: [{ name: 'lat_count', labels: [], value: 2 }] });
    out.add({
      name: 'lat_count',
      type: 'gauge',
      help: 'collides with the histogram',
      samples: [{ name: 'lat_count', labels: [], value: 9 }],
    });
    out.add({
      name: 'lat',
      type: 'counter',
      help: 'same name again',
      samples: [{ name: 'lat', labels: [], value: 1 }],
    });
    out.add({ name: 'up', type: 'gauge', help: 'x', samples: [{ name: 'up', labels: [['a', 'b"']], value: 1 }] });
    expect(out.toString()).toBe(
      '# HELP lat h\n# TYPE lat histogram\nlat_count 2\n# HELP up x\n# TYPE up gauge\nup{a="b\\""} 1\n',
    );
    expect(out.skipped).toBe(2);
  });
});

describe('keyset cursor', () => {
  it('round-trips the key and refuses other filters, truncation and garbage', () => {
    const key = { micros: 1_795_712_880_123_456n, id: '01a218d3-b37d-76b9-b2ce-dbc385886075' };
    const cursor = encodeCursor(key, 'fp1');
    expect(decodeCursor(cursor, 'fp1')).toEqual({ ok: true, key });
    expect(decodeCursor(cursor, 'fp2')).toMatchObject({ ok: false, message: expect.stringMatching(/other filters/) });
    expect(decodeCursor(cursor.slice(0, -6), 'fp1')).toMatchObject({ ok: false });
    expect(decodeCursor(Buffer.from('v1.12.not-a-uuid.fp1').toString('base64url'), 'fp1')).toMatchObject({ ok: false });
    expect(decodeCursor('', 'fp1')).toMatchObject({ ok: false });
  });

  it('keeps microseconds when turning the key back into a timestamp', () => {
    expect(microsToIso(1_795_712_880_123_456n)).toBe('2026-11-26T17:08:00.123456Z');
  });
});
