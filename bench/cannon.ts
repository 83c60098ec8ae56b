/**
 * The HTTP load generator of the ingest benchmarks (gateway, OTLP, remote_write, plugin) and what they report.
 * autocannon ships no types (and @types/autocannon is not a dependency): the little used here, typed once.
 */
export interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export interface CannonOptions {
  url: string;
  method?: 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  connections: number;
  duration: number;
  pipelining?: number;
  overallRate?: number;
}

export const autocannon = (
  (await import('autocannon' as string)) as {
    default: (opts: CannonOptions) => Promise<CannonResult>;
  }
).default;

/** The middle round by `by` (rounds of one contender alternate with the others', so the median resists noise). */
export function medianBy<T>(rounds: T[], by: (round: T) => number): T {
  return [...rounds].sort((a, b) => by(a) - by(b))[Math.floor(rounds.length / 2)];
}

/** A rate or count with thousands separators. */
export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
