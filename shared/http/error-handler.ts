/**
 * The one place that turns errors into HTTP answers: { "success": false, "error": { code, message, details } }.
 * Fastify's own client errors (bad JSON, too large, wrong media type, schema validation) are mapped onto the
 * registry's codes; anything unexpected is logged and answered as VIGIL_ERR_INTERNAL, never with a stack trace.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, VigilError, validationError, type ErrorCode } from '../errors.ts';
import { schemaErrorDetails } from './validation.ts';
import { HTTP_STATUS } from './status.ts';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'VIGIL_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VIGIL_ERR_MALFORMED_BODY',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'VIGIL_ERR_MALFORMED_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'VIGIL_ERR_MALFORMED_BODY',
  FST_ERR_CTP_INVALID_TYPE: 'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE',
};

export function toVigilError(error: FastifyError | VigilError | Error): VigilError | null {
  if (error instanceof VigilError) return error;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return validationError(schemaErrorDetails(fastifyError.validation, fastifyError.validationContext ?? 'body'));
  }
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return new VigilError(mapped, error.message);
  if (error instanceof SyntaxError && fastifyError.statusCode === HTTP_STATUS.BAD_REQUEST)
    return new VigilError('VIGIL_ERR_MALFORMED_BODY', `malformed JSON body: ${error.message}`);
  if (fastifyError.statusCode === HTTP_STATUS.BAD_REQUEST)
    return new VigilError('VIGIL_ERR_MALFORMED_BODY', error.message);
  return null;
}

export function sendError(reply: FastifyReply, error: VigilError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.status(error.status).send({
    success: false,
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
    },
  });
}

/** The error for a request that matches no route: 404 naming it. */
export function notFound(request: FastifyRequest): VigilError {
  return new VigilError('VIGIL_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
}

/**
 * `unmatched`: the error for a request that matches no route (default VIGIL_ERR_NOT_FOUND naming it; bin/runtime.ts
 * answers 503 while the roles that serve the other paths are still loading).
 */
export function installErrorHandling(
  app: FastifyInstance,
  unmatched: (request: FastifyRequest) => VigilError = notFound,
): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const known = toVigilError(error);
    if (known) {
      if (known.status >= HTTP_STATUS.INTERNAL_SERVER_ERROR)
        request.log.warn({ code: known.code, err: error }, known.message);
      return sendError(reply, known);
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, new VigilError('VIGIL_ERR_INTERNAL', ERRORS.VIGIL_ERR_INTERNAL.title));
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, unmatched(request)));
}
