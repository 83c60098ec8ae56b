/**
 * The primitives vigil's inputs are made of — date-times, UUIDs, durations — each once: the pattern, the parse
 * function and the JSON-schema fragment. The ingest validator, the query routes' schemas (which Fastify validates
 * and the OpenAPI document shows), the Prometheus-compatible API, alert rules and PromQL all use these, so they
 * accept the same text.
 *
 * Durations follow Prometheus' grammar: one or more <integer><unit> parts, largest unit first, each unit at most
 * once (`90s`, `5m`, `1h30m`, `1d`, `500ms`); units y (365 d), w, d, h, m, s, ms. Where an API parameter takes a
 * duration (step, timeout) it also takes a number of seconds, fractions allowed (`15`, `0.5`), as Prometheus' HTTP
 * API does.
 */
import { MS_PER_SECOND } from '../units.ts';

const DATE_TIME_SOURCE = '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$';
const UUID_SOURCE = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const DURATION_BODY = '(?=\\d)(?:\\d+y)?(?:\\d+w)?(?:\\d+d)?(?:\\d+h)?(?:\\d+m)?(?:\\d+s)?(?:\\d+ms)?';
const SECONDS_BODY = '\\d+(?:\\.\\d+)?';
const TRACE_ID_SOURCE = '^[0-9a-fA-F]{32}$';

/** ISO 8601 / RFC 3339 date-time with an explicit zone, e.g. 2024-01-01T00:00:00Z or 2024-01-01T00:00:00.123+02:00. */
export const ISO_DATE_TIME = new RegExp(DATE_TIME_SOURCE);
export const UUID = new RegExp(UUID_SOURCE);
const DURATION = new RegExp(`^${DURATION_BODY}$`);
const DURATION_OR_SECONDS_SOURCE = `^(?:${DURATION_BODY}|${SECONDS_BODY})$`;

const UNITS: Record<string, number> = {
  y: 31_536_000_000,
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};
const PART = /(\d+)(ms|y|w|d|h|m|s)/g;

/** Epoch milliseconds of an ISO 8601 date-time with a zone, or null when `text` is not one (or not a real date). */
export function parseIsoTime(text: string): number | null {
  if (!ISO_DATE_TIME.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

export function isUuid(text: string): boolean {
  return UUID.test(text);
}

/** Milliseconds of a duration in Prometheus' grammar (`1h30m`), or null when `text` is not one. */
export function parseDuration(text: string): number | null {
  if (!DURATION.test(text)) return null;
  let total = 0;
  for (const [, count, unit] of text.matchAll(PART)) total += Number(count) * UNITS[unit];
  return Number.isSafeInteger(total) ? total : null;
}

/** Milliseconds of an API duration parameter: a duration (`15s`, `1m`) or a number of seconds (`15`, `0.5`). */
export function parseDurationOrSeconds(text: string): number | null {
  if (new RegExp(`^${SECONDS_BODY}$`).test(text)) {
    const ms = Math.round(Number(text) * MS_PER_SECOND);
    return Number.isSafeInteger(ms) ? ms : null;
  }
  return parseDuration(text);
}

/** The shortest spelling of `ms` in the duration grammar (`0s` for zero). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const [unit, size] of Object.entries(UNITS)) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}

/** JSON-schema fragments (OpenAPI 3.0 dialect) of the primitives, for route schemas. */
export const isoTimeSchema = {
  type: 'string',
  format: 'date-time',
  pattern: DATE_TIME_SOURCE,
  examples: ['2024-01-01T00:00:00Z'],
} as const;
export const uuidSchema = {
  type: 'string',
  format: 'uuid',
  pattern: UUID_SOURCE,
  examples: ['0190b1c2-7a4e-7cc0-8a6e-1d2f3a4b5c6d'],
} as const;
export const durationSchema = {
  type: 'string',
  pattern: DURATION_OR_SECONDS_SOURCE,
  examples: ['5m'],
  description: 'A duration (30s, 5m, 1h30m, 1d) or a number of seconds.',
} as const;
/** A W3C / OTLP trace id: 32 hex digits. */
export const traceIdSchema = {
  type: 'string',
  pattern: TRACE_ID_SOURCE,
  examples: ['4bf92f3577b34da6a3ce929d0e0e4736'],
} as const;

/** What each pattern above means, for validation messages that name the rule instead of the regular expression. */
export const PATTERN_RULES: Record<string, string> = {
  [DATE_TIME_SOURCE]: 'must be an ISO 8601 date-time with a zone, e.g. 2024-01-01T00:00:00Z',
  [UUID_SOURCE]: 'must be a UUID',
  [TRACE_ID_SOURCE]: 'must be 32 hex digits (a W3C / OTLP trace id)',
  [DURATION_OR_SECONDS_SOURCE]: 'must be a duration like 30s, 5m, 1h30m or 1d, or a number of seconds',
};

/** The same for the `format` keyword. */
export const FORMAT_RULES: Record<string, string> = {
  'date-time': PATTERN_RULES[DATE_TIME_SOURCE],
  uuid: PATTERN_RULES[UUID_SOURCE],
};
