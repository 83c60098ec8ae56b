/**
 * Request ids for correlation (X-Request-Id): an incoming id is kept when it is a sane token, otherwise
 * a random UUID is made. The rule is the gateway's (shared/http/app.ts), so an id accepted here is accepted there.
 */
import crypto from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID.test(value);
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function newRequestId(): string {
  return crypto.randomUUID();
}

/**
 * For `Fastify({ genReqId })`: Fastify's own request.id (and so its pino log lines) then carries the same id as
 * the plugin's request.vigil.requestId. Without it Fastify numbers requests req-1, req-2, … per process.
 */
export function genReqId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return isValidRequestId(given) ? given : newRequestId();
}
