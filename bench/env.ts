/** Benchmark settings from the environment. */

/** A non-negative number from the environment variable `name`, or `fallback` when it is unset. */
export function numberSetting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
}
