import { describe, expect, it } from 'vitest';
import { COPY_HEADER, CopyRows, notableTags, rowId, writeEventRow, writeMetricRow } from './copy-format.ts';
import type { EventRecord } from '../../shared/schemas/event.ts';
import type { MetricRecord } from '../../shared/schemas/metric.ts';

const ID = '0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d';

function event(overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    id: ID,
    event_type: 'log',
    source: 'api\tgw',
    message: null,
    level: null,
    tags: '{"q":"a\\"b"}',
    payload: '{}',
    timestamp: Date.parse('2026-11-26T12:00:00.123Z'),
    created_by: null,
    id_given: false,
    ...overrides,
  };
}

/** The fields of one binary COPY row: null, or the field's bytes. */
function fieldsOf(bytes: Buffer): (Buffer | null)[] {
  const count = bytes.readInt16BE(0);
  const fields: (Buffer | null)[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const length = bytes.readInt32BE(at);
    at += 4;
    if (length < 0) fields.push(null);
    else {
      fields.push(bytes.subarray(at, at + length));
      at += length;
    }
  }
  expect(at).toBe(bytes.length);
  return fields;
}

function eventRow(e: EventRecord, capacity = 16): Buffer {
  const rows = new CopyRows(capacity);
  writeEventRow(rows, e);
  return rows.written();
}

describe('binary COPY format', () => {
  it('starts every body with the PGCOPY signature, no flags and no header extension', () => {
    expect(COPY_HEADER.toString('hex')).toBe('5047434f50590aff0d0a00' + '00000000' + '00000000');
  });

  it('writes an event row in the column order, text as UTF-8, jsonb with its version byte, nulls as -1', () => {
    const fields = fieldsOf(eventRow(event({ message: 'héllo ☃ 𝄞\\\n', level: 'error', created_by: 'u1' })));
    expect(fields).toHaveLength(10);
    expect(fields[0]!.toString('hex')).toBe(ID.replaceAll('-', ''));
    // Microseconds since 2000-01-01T00:00:00Z, big-endian int64.
    expect(fields[1]!.readBigInt64BE(0)).toBe(
      BigInt(Date.parse('2026-11-26T12:00:00.123Z') - Date.parse('2000-01-01T00:00:00Z')) * 1000n,
    );
    expect(fields.slice(2, 6).map((f) => f?.toString('utf8') ?? null)).toEqual([
      'log',
      'api\tgw',
      'error',
      'héllo ☃ 𝄞\\\n',
    ]);
    expect(fields[6]![0]).toBe(1);
    expect(fields[6]!.subarray(1).toString()).toBe('{"q":"a\\"b"}');
    expect(fields[7]!.toString('hex')).toBe('017b7d');
    expect(fields[8]!.toString()).toBe('u1');
    // Notable (error): the tags again.
    expect(fields[9]!.equals(fields[6]!)).toBe(true);
    const plain = fieldsOf(eventRow(event()));
    expect([plain[4], plain[5], plain[8], plain[9]]).toEqual([null, null, null, null]);
  });

  it('writes times before 2000 and 1970, and far from the epoch, exactly', () => {
    const epoch2000 = Date.parse('2000-01-01T00:00:00Z');
    for (const ms of [epoch2000, epoch2000 - 1, 0, -1, 1, 8.64e15, -8.64e15, 253402300799999, 9_007_199_254_741]) {
      const fields = fieldsOf(eventRow(event({ timestamp: ms })));
      expect(fields[1]!.readBigInt64BE(0), String(ms)).toBe(BigInt(ms - epoch2000) * 1000n);
    }
  });

  it('reads the id of a row back (rowId), upper-case input written as its bytes', () => {
    const rows = new CopyRows(8);
    writeEventRow(rows, event());
    const second = rows.length;
    writeEventRow(rows, event({ id: 'FFFFFFFF-0000-7ABC-8DEF-0123456789AB' }));
    expect(rowId(rows, 0)).toBe(ID);
    expect(rowId(rows, second)).toBe('ffffffff-0000-7abc-8def-0123456789ab');
  });

  it('writes a metric row; -0 as 0 (as COPY text stored it)', () => {
    const metric: MetricRecord = {
      id: ID,
      name: 'http_requests_total',
      metric_type: 'counter',
      value: -0,
      labels: { path: '/a\tb', é: 'x' },
      timestamp: Date.parse('2026-11-26T12:00:00Z'),
      created_by: 'u1',
      id_given: false,
    };
    const rows = new CopyRows(4);
    writeMetricRow(rows, metric);
    const fields = fieldsOf(rows.written());
    expect(fields).toHaveLength(7);
    expect(Object.is(fields[4]!.readDoubleBE(0), 0)).toBe(true);
    expect(JSON.parse(fields[5]!.subarray(1).toString())).toEqual(metric.labels);
    const second = rows.length;
    writeMetricRow(rows, { ...metric, value: 1.5e-300 });
    expect(fieldsOf(rows.bytes.subarray(second, rows.length))[4]!.readDoubleBE(0)).toBe(1.5e-300);
  });

  it('grows its buffer as rows come, and slices rows contiguous or not', () => {
    const rows = new CopyRows(1);
    const ranges: { start: number; end: number }[] = [];
    for (let i = 0; i < 500; i++) {
      const start = rows.length;
      writeEventRow(rows, event({ message: '€'.repeat(i), tags: `{"i":${i}}` }));
      ranges.push({ start, end: rows.length });
    }
    for (const [i, r] of ranges.entries())
      expect(fieldsOf(rows.bytes.subarray(r.start, r.end))[5]!.toString()).toBe('€'.repeat(i));
    expect(rows.slice(ranges).equals(rows.written())).toBe(true);
    const odd = ranges.filter((_, i) => i % 2 === 1);
    expect(rows.slice(odd).equals(Buffer.concat(odd.map((r) => rows.bytes.subarray(r.start, r.end))))).toBe(true);
    rows.truncate(ranges[10].start);
    expect(rows.length).toBe(ranges[10].start);
  });

  it('copies the tags of notable events into notable_tags only while the index entry stays bounded', () => {
    const notable = (level: string | null, tags: string, eventType = 'log', source = 'api') =>
      event({ level: level as EventRecord['level'], tags, event_type: eventType as EventRecord['event_type'], source });
    const small = '{"user":"u1","region":"eu"}';
    expect(notableTags(notable('info', small))).toBeNull();
    expect(notableTags(notable(null, small))).toBeNull();
    for (const level of ['warn', 'error', 'fatal']) expect(notableTags(notable(level, small))).toBe(small);
    expect(notableTags(notable(null, small, 'alert'))).toBe(small);
    // (2400 − 3 bytes of source) / 6: 399 bytes of tags fit, 400 do not.
    const sized = (bytes: number) => `{"k":"${'x'.repeat(bytes - 8)}"}`;
    expect(notableTags(notable('error', sized(399)))).toBe(sized(399));
    expect(notableTags(notable('error', sized(400)))).toBeNull();
    // Bytes, not characters: a three-byte source counts three times.
    expect(notableTags(notable('error', sized(300), 'log', '€'.repeat(300)))).toBeNull();
    expect(fieldsOf(eventRow(notable('error', sized(8000))))[9]).toBeNull();
  });
});
