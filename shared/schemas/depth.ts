/**
 * JSON.parse accepts 100k-deep arrays, but JSON.stringify (the validators measure tags and payload with it) and any
 * recursive reader after it would overflow the stack: too-deep values are refused before anything else walks them.
 * The value itself is level 1. Used by every ingest path (HTTP and direct Kafka records).
 */
export function nestsDeeperThan(value: unknown, maxDepth: number, depth = 1): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth > maxDepth) return true;
  if (Array.isArray(value)) {
    for (const inner of value) if (nestsDeeperThan(inner, maxDepth, depth + 1)) return true;
    return false;
  }
  for (const key in value)
    if (nestsDeeperThan((value as Record<string, unknown>)[key], maxDepth, depth + 1)) return true;
  return false;
}
