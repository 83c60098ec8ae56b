/**
 * The HTTP application shared by every role: request ids, auth, error envelope, /healthz, /readyz (public: the
 * failing check and a fixed reason, details in the log, shared/http/readiness.ts), /metrics.
 * Roles contribute their routes as plugins; buildApp() does not listen, so tests drive it with inject().
 */
import crypto from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyServerFactory,
} from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuditLog } from '../audit/audit-log.ts';
import { auditPlugin } from '../audit/plugin.ts';
import { authPlugin } from '../auth/plugin.ts';
import type { VerifierOptions } from '../auth/verify.ts';
import { installErrorHandling } from './error-handler.ts';
import { openapiPlugin } from './openapi.ts';
import { AJV_OPTIONS, strictQuery } from './validation.ts';
import { rateLimitPlugin } from './rate-limit.ts';
import { createReadiness, type ReadinessCheck } from './readiness.ts';
import { HTTP_STATUS } from './status.ts';

const DEFAULT_BODY_LIMIT_BYTES = 5_242_880; // 5 MiB

export type { ReadinessCheck } from './readiness.ts';

export interface AppOptions {
  logger: Logger;
  auth: VerifierOptions;
  registry: Registry;
  routes: FastifyPluginAsync[];
  readiness: Record<string, ReadinessCheck>;
  /** Names of the readiness checks of each role, for `/readyz?role=<role>`. */
  readinessByRole?: Record<string, string[]>;
  /** The HTTP server listen() binds (bin/runtime.ts: one that passes requests on to another app later). */
  serverFactory?: FastifyServerFactory;
  /** The error for a request no route matches (default: 404 naming it). */
  unmatched?: Parameters<typeof installErrorHandling>[1];
  bodyLimitBytes?: number;
  /** Where sensitive actions and refused requests are recorded (none: request.audit() does nothing). */
  audit?: AuditLog;
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    bodyLimit: opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    // One log line per ingest request would cost more than the request; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    },
    return503OnClosing: true,
    ajv: AJV_OPTIONS,
    ...(opts.serverFactory ? { serverFactory: opts.serverFactory } : {}),
  });
  installErrorHandling(app, opts.unmatched);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  await app.register(auditPlugin, { log: opts.audit ?? null });
  await app.register(authPlugin, opts.auth);
  await app.register(rateLimitPlugin);
  await app.register(openapiPlugin, { version: '0.1.0' });

  // No parameters: an unknown one is a 400 naming it, as on every route but the Prometheus-compatible API's.
  const none = { schema: { querystring: strictQuery({}) } };
  app.get('/healthz', none, async () => ({ status: 'ok' }));
  const readiness = createReadiness(opts.readiness, opts.logger);
  // `?role=gateway`: only that role's checks, so a load balancer in front of the gateways of all-in-one processes
  // keeps sending ingest while their consumers are still joining their groups.
  const roles = Object.keys(opts.readinessByRole ?? {});
  const readyzSchema = {
    schema: { querystring: strictQuery(roles.length === 0 ? {} : { role: { type: 'string', enum: roles } }) },
  };
  app.get<{ Querystring: { role?: string } }>('/readyz', readyzSchema, async (request, reply) => {
    const only = request.query.role === undefined ? null : new Set(opts.readinessByRole?.[request.query.role] ?? []);
    const { ready, checks } = await readiness(only);
    return reply
      .status(ready ? HTTP_STATUS.OK : HTTP_STATUS.SERVICE_UNAVAILABLE)
      .send({ status: ready ? 'ready' : 'not ready', checks });
  });
  app.get('/metrics', none, async (_request, reply) => {
    reply.header('content-type', opts.registry.contentType);
    return opts.registry.metrics();
  });

  for (const routes of opts.routes) await app.register(routes);
  return app;
}
