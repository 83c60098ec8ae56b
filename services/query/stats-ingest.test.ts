import { describe, expect, it } from 'vitest';
import { MAX_INGEST_MINUTES, parseIngestWindow } from './stats-ingest.ts';

const MIN = 60_000;
const NOW = Date.parse('2026-12-07T10:20:30.500Z');
const at = (iso: string) => Date.parse(iso);

describe('the window of GET /stats/ingest', () => {
  it('defaults to the current minute and the 59 before it', () => {
    const expected = { firstMs: at('2026-12-07T09:21:00Z'), lastMs: at('2026-12-07T10:20:00Z') };
    expect(parseIngestWindow({}, NOW)).toEqual(expected);
  });

  it('rounds both ends down to their minute and includes both', () => {
    const query = { start_time: '2026-12-07T08:00:59Z', end_time: '2026-12-07T08:02:00.001+00:00' };
    const window = parseIngestWindow(query, NOW);
    expect(window).toEqual({ firstMs: at('2026-12-07T08:00:00Z'), lastMs: at('2026-12-07T08:02:00Z') });
    expect(parseIngestWindow({ end_time: '2026-12-07T08:00:00Z' }, NOW).firstMs).toBe(at('2026-12-07T07:01:00Z'));
    expect(parseIngestWindow({ start_time: '2026-12-07T08:00:00Z' }, NOW).lastMs).toBe(at('2026-12-07T08:59:00Z'));
  });

  it(`allows ${MAX_INGEST_MINUTES} minutes and not one more`, () => {
    const end = '2026-12-07T10:00:00Z';
    const first = (minutes: number) => new Date(at(end) - (minutes - 1) * MIN).toISOString();
    const day = { start_time: first(MAX_INGEST_MINUTES), end_time: end };
    expect(parseIngestWindow(day, NOW).firstMs).toBe(at(first(1440)));
    const longer = { start_time: first(MAX_INGEST_MINUTES + 1), end_time: end };
    expect(() => parseIngestWindow(longer, NOW)).toThrow(/at most 1440 minutes/);
  });

  it('refuses an end before the start and malformed times, all at once (unknown parameters: the route schema)', () => {
    const backwards = { start_time: '2026-12-07T10:00:00Z', end_time: '2026-12-07T09:59:59Z' };
    expect(() => parseIngestWindow(backwards, NOW)).toThrow(/before start_time/);
    try {
      parseIngestWindow({ start_time: 'now', end_time: ['a', 'b'] }, NOW);
      expect.unreachable();
    } catch (error) {
      const fields = (error as { details: { field: string }[] }).details.map((d) => d.field);
      expect(fields.sort()).toEqual(['end_time', 'start_time']);
    }
  });
});
