/**
 * Durations as PromQL writes them (`90s`, `5m`, `1h30m`, `500ms`): Prometheus' grammar, defined once for every input
 * of vigil in shared/schemas/primitives.ts.
 */
export { formatDuration, parseDuration } from '../schemas/primitives.ts';
