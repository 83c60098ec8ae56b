/**
 * Durations as PromQL writes them: one or more <integer><unit> parts, largest unit first (`90s`, `5m`, `1h30m`,
 * `500ms`). Units: ms, s, m, h, d, w.
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const ORDER = ['w', 'd', 'h', 'm', 's', 'ms'];
const PART = /(\d+)(ms|s|m|h|d|w)/y;

/** Milliseconds, or null when `text` is not a duration. */
export function parseDuration(text: string): number | null {
  if (text === '') return null;
  PART.lastIndex = 0;
  let total = 0;
  let lastUnit = -1;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (!match) return null;
    const unit = ORDER.indexOf(match[2]);
    if (unit <= lastUnit) return null;
    lastUnit = unit;
    total += Number(match[1]) * UNITS[match[2]];
  }
  return Number.isSafeInteger(total) ? total : null;
}

/** The shortest PromQL spelling of `ms` (`0s` for zero). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const unit of ORDER) {
    const size = UNITS[unit];
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}
