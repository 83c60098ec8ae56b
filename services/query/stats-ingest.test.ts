import { describe, expect, it } from 'vitest';
import { MAX_INGEST_MINUTES, parseIngestWindow } from './stats-ingest.ts';

const MIN = 60_000;
const NOW = Date.parse('2026-12-07T10:20:30.500Z');
const at = (iso: string) => Date.parse(iso);

describe('the window of GET /stats/ingest', () => {
  it('defaults to the current minute and the 59 before it', () => {
    expect(parseIngestWindow({}, NOW)).toEqual({ firstMs: at('2026-12-07T09:21:00Z'), lastMs: at('2026-12-07T10:20:00Z') });
  });

  it('rounds both ends down to their minute and includes both', () => {
    const window = parseIngestWindow({ start_time: '2026-12-07T08:00:59Z', end_time: '2026-12-07T08:02:00.001+00:00' }, NOW);
    expect(window).toEqual({ firstMs: at('2026-12-07T08:00:00Z'), lastMs: at('2026-12-07T08:02:00Z') });
    expect(parseIngestWindow({ end_time: '2026-12-07T08:00:00Z' }, NOW).firstMs).toBe(at('2026-12-07T07:01:00Z'));
    expect(parseIngestWindow({ start_time: '2026-12-07T08:00:00Z' }, NOW).lastMs).toBe(at('2026-12-07T08:59:00Z'));
  });

  it(`allows ${MAX_INGEST_MINUTES} minutes and not one more`, () => {
    const end = '2026-12-07T10:00:00Z';
    const first = (minutes: number) => new Date(at(end) - (minutes - 1) * MIN).toISOString();
    expect(parseIngestWindow({ start_time: first(MAX_INGEST_MINUTES), end_time: end }, NOW).firstMs).toBe(at(first(1440)));
    expect(() => parseIngestWindow({ start_time: first(MAX_INGEST_MINUTES + 1), end_time: end }, NOW)).toThrow(/at most 1440 minutes/);
  });

  it('refuses an end before the start, malformed times and unknown parameters, all at once', () => {
    expect(() => parseIngestWindow({ start_time: '2026-12-07T10:00:00Z', end_time: '2026-12-07T09:59:59Z' }, NOW)).toThrow(/before start_time/);
    try {
      parseIngestWindow({ start_time: 'now', end_time: ['a', 'b'], limit: '5' }, NOW);
      expect.unreachable();
    } catch (error) {
      const fields = (error as { details: { field: string }[] }).details.map((d) => d.field);
      expect(fields.sort()).toEqual(['end_time', 'limit', 'start_time']);
    }
  });
});
