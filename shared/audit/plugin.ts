/**
 * The audit hooks of the HTTP app: `request.audit(action, target, details)` records a sensitive action with the
 * caller's identity (token `sub` and role, client address), and every 401 and 403 answer — whichever code path
 * refused the request — is counted as `auth.unauthorized` (by address) or `auth.forbidden` (by subject), with
 * the route and the error code. Writing is the AuditLog's business (batched, bounded: audit-log.ts).
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditLog } from './audit-log.ts';
import { HTTP_STATUS } from '../http/status.ts';

/** Longest request target (method and path) an audit row keeps. */
const TARGET_MAX_CHARS = 200;

/** Audited actions, as stored in audit_log.action and filtered by GET /audit?action=. */
export const AUDIT_ACTIONS = [
  'alert_rule.create',
  'alert_rule.update',
  'alert_rule.delete',
  'incident.create',
  'incident.update',
  'auth.unauthorized',
  'auth.forbidden',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

declare module 'fastify' {
  interface FastifyRequest {
    /** Records a sensitive action by the caller (no-op in an app without an audit log). */
    audit(action: AuditAction, target: string, details?: Record<string, unknown>): void;
  }
}

const errorCodes = new WeakMap<FastifyRequest, string>();

export const auditPlugin = fp(async (app: FastifyInstance, opts: { log: AuditLog | null }) => {
  const log = opts.log;
  app.decorateRequest(
    'audit',
    function audit(this: FastifyRequest, action: AuditAction, target: string, details?: Record<string, unknown>) {
      const who = this.principal;
      log?.record({ action, actor: who?.sub ?? null, role: who?.role ?? null, ip: this.ip, target, details });
    },
  );
  if (!log) return;

  // Callback-style hooks: they run on every response, and skip the promise an async hook would cost each time.
  app.addHook('onError', (request, _reply, error: FastifyError, done) => {
    if (typeof error.code === 'string') errorCodes.set(request, error.code);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    if (status === HTTP_STATUS.UNAUTHORIZED || status === HTTP_STATUS.FORBIDDEN) {
      const path = request.routeOptions.url ?? request.url.split('?')[0].slice(0, TARGET_MAX_CHARS);
      const target = `${request.method} ${path}`;
      const details = { code: errorCodes.get(request) ?? null };
      if (status === HTTP_STATUS.UNAUTHORIZED) {
        log.count({ action: 'auth.unauthorized', actor: null, role: null, ip: request.ip, target, details });
      } else {
        const who = request.principal;
        const actor = who?.sub ?? null;
        log.count({ action: 'auth.forbidden', actor, role: who?.role ?? null, ip: request.ip, target, details });
      }
    }
    done();
  });
});
