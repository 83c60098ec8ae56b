import { describe, expect, it } from 'vitest';
import { bucketStart, parsePgTimestamp, partitionName } from './partitions.ts';

describe('partition naming', () => {
  const t = Date.parse('2026-11-26T16:47:12.345Z');
  it('buckets by UTC day or hour', () => {
    expect(new Date(bucketStart(t, 'day')).toISOString()).toBe('2026-11-26T00:00:00.000Z');
    expect(new Date(bucketStart(t, 'hour')).toISOString()).toBe('2026-11-26T16:00:00.000Z');
  });
  it('names partitions after their start', () => {
    expect(partitionName('events', bucketStart(t, 'day'), 'day')).toBe('events_p20261126');
    expect(partitionName('metrics', bucketStart(t, 'hour'), 'hour')).toBe('metrics_p2026112616');
  });
  it('parses PostgreSQL timestamptz bounds in any session time zone', () => {
    expect(parsePgTimestamp('2026-11-26 00:00:00+00')).toBe(Date.parse('2026-11-26T00:00:00Z'));
    expect(parsePgTimestamp('2026-11-26 01:00:00+01')).toBe(Date.parse('2026-11-26T00:00:00Z'));
    expect(parsePgTimestamp('2026-11-26 05:30:00+05:30')).toBe(Date.parse('2026-11-26T00:00:00Z'));
  });
});
