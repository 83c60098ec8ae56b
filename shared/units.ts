/**
 * Unit conversions, named so that arithmetic says what it converts (`seconds * MS_PER_SECOND`). The lint rule
 * against magic numbers (biome.jsonc) sends every such factor here.
 */
export const MS_PER_SECOND = 1000;
export const MS_PER_MINUTE = 60_000;
export const MS_PER_HOUR = 3_600_000;
export const MS_PER_DAY = 86_400_000;
export const SECONDS_PER_MINUTE = 60;
export const SECONDS_PER_HOUR = 3600;
export const SECONDS_PER_DAY = 86_400;
export const HOURS_PER_DAY = 24;
/** Days of a leap year: the longest year a range may cover. */
export const DAYS_PER_LEAP_YEAR = 366;
export const DAYS_PER_WEEK = 7;
export const NS_PER_MS = 1e6;
export const NS_PER_SECOND = 1e9;
export const NS_PER_MS_BIGINT = 1_000_000n;
export const MICROS_PER_MS = 1000;
export const MICROS_PER_MS_BIGINT = 1000n;
export const MICROS_PER_SECOND_BIGINT = 1_000_000n;
export const BYTES_PER_KIB = 1024;
export const BYTES_PER_MIB = 1_048_576;
export const PERCENT = 100;
export const HEX_RADIX = 16;
/** A UTF-16 code unit takes at most three bytes in UTF-8. */
export const MAX_UTF8_BYTES_PER_UTF16_UNIT = 3;

/** Seconds elapsed since a `process.hrtime.bigint()` reading, for the `_seconds` histograms. */
export function secondsSince(startedNs: bigint): number {
  return Number(process.hrtime.bigint() - startedNs) / NS_PER_SECOND;
}
