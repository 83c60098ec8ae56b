/**
 * What logs and spans take from their resource: `service.name` becomes the event's `source` (the specification's
 * default `unknown_service` when absent), every other resource attribute a tag.
 */
import { anyValueToJson, type Json, type KeyValue } from './values.ts';

export const SERVICE_NAME = 'service.name';
export const UNKNOWN_SERVICE = 'unknown_service';

export interface ResourceView {
  source: string;
  /** The resource's other attributes as tags (shared: copy before changing). */
  tags: Readonly<Record<string, Json>>;
}

export function resourceView(
  resource: { attributes?: KeyValue[] | null } | null | undefined,
  maxDepth: number,
): ResourceView {
  let source = UNKNOWN_SERVICE;
  const tags: Record<string, Json> = {};
  for (const kv of resource?.attributes ?? []) {
    const value = anyValueToJson(kv.value, maxDepth, 2);
    if (kv.key === SERVICE_NAME) {
      if (typeof value === 'string' && value !== '') source = value;
    } else tags[kv.key] = value;
  }
  return { source, tags };
}
