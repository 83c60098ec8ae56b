/** Benchmark settings from the environment, and the machine's load the figures are printed with. */
import fs from 'node:fs';

/** A non-negative number from the environment variable `name`, or `fallback` when it is unset. */
export function numberSetting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
}

/** The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them ("1.52 2.10 3.40"). */
export function loadAverage(): string {
  return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
