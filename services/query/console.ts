/**
 * Serves the web console (shared/http/console-bundle.ts) at /console/: index.html revalidated on every load
 * (no-cache), hashed assets cached for a year (immutable), each gzipped when the client accepts it. The console
 * is public like any static page; everything it shows comes from the API with the token the person pasted.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { VigilError } from '../../shared/errors.ts';
import type { ConsoleBundle } from '../../shared/http/console-bundle.ts';

import { HTTP_STATUS } from '../../shared/http/status.ts';

const NAME_EXCERPT_CHARS = 100;

const ASSET_MAX_AGE_SECONDS = 31_536_000; // a year

export function consoleRoutes(bundle: ConsoleBundle): FastifyPluginAsync {
  const send = (request: FastifyRequest, reply: FastifyReply, name: string) => {
    const file = bundle.files.get(name);
    if (!file)
      throw new VigilError(
        'VIGIL_ERR_NOT_FOUND',
        `no console file ${JSON.stringify(name.slice(0, NAME_EXCERPT_CHARS))}`,
      );
    reply.header('content-type', file.contentType);
    reply.header('cache-control', file.immutable ? `public, max-age=${ASSET_MAX_AGE_SECONDS}, immutable` : 'no-cache');
    reply.header('vary', 'accept-encoding');
    reply.header('x-content-type-options', 'nosniff');
    if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      reply.header('content-encoding', 'gzip');
      return reply.send(file.gzip);
    }
    return reply.send(file.body);
  };
  const hidden = { schema: { hide: true } };
  return async (app) => {
    app.get('/console', hidden, async (_request, reply) => reply.redirect('/console/', HTTP_STATUS.MOVED_PERMANENTLY));
    app.get('/console/', hidden, async (request, reply) => send(request, reply, ''));
    app.get('/console/*', hidden, async (request, reply) =>
      send(request, reply, (request.params as { '*': string })['*']),
    );
  };
}
