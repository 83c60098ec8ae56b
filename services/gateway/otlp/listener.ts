/**
 * The optional OTLP listener (OTLP_HTTP_PORT, e.g. 4318, the port OTLP/HTTP exporters default to): a second HTTP
 * server in front of the same Fastify application that passes on only POST /v1/logs, /v1/metrics, /v1/traces — the
 * same routes, hooks, authentication and limits as on the API port — and answers anything else 404 itself, so the
 * API is not exposed on a port opened for telemetry.
 */
import http from 'node:http';
import type { FastifyInstance } from 'fastify';

import { HTTP_STATUS } from '../../../shared/http/status.ts';

/** The google.rpc.Status code NOT_FOUND, which OTLP/HTTP error bodies carry. */
const GRPC_NOT_FOUND = 5;

const OTLP_PATHS = new Set(['/v1/logs', '/v1/metrics', '/v1/traces']);

/** `host.app`: the application to pass requests to, read per request (bin/runtime.ts replaces it once at start). */
export async function listenOtlp(
  host: { readonly app: FastifyInstance },
  address: string,
  port: number,
): Promise<http.Server> {
  await host.app.ready();
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (OTLP_PATHS.has(path)) {
      host.app.routing(request, response);
      return;
    }
    response
      .writeHead(HTTP_STATUS.NOT_FOUND, { 'content-type': 'application/json' })
      .end(
        JSON.stringify({ code: GRPC_NOT_FOUND, message: `only ${[...OTLP_PATHS].join(', ')} are served on this port` }),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  return server;
}

/** Stops accepting and waits for the requests in flight (keep-alive connections closed once idle). */
export async function closeOtlp(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
}
