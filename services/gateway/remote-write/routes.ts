/**
 * Prometheus remote_write 1.0 receiver: POST /api/v1/write (Bearer token, role user). Answers, with Prometheus'
 * retry semantics (it retries 5xx, and drops a batch answered 4xx — including 429 in Prometheus 2.x):
 *   204  every sample stored (metadata-only requests and staleness markers included)
 *   400  some samples refused: the valid ones are stored; the body names the refused ones (first 1000) — also when
 *        the body does not decode (snappy or protobuf)
 *   401/403 token; 413 the declared uncompressed size over INGEST_BODY_LIMIT_BYTES, or more series or samples
 *        than INGEST_MAX_BATCH_ITEMS; 415 remote-write 2.0 (proto=io.prometheus.write.v2.Request), another
 *        Content-Type, or a Content-Encoding other than snappy
 *   503 + Retry-After  Kafka did not acknowledge in time, or the gateway is at its in-flight bounds (where the JSON
 *        path answers 429): the sender retries the batch, and the derived ids store it once
 * Errors are vigil's JSON envelope; Prometheus logs the start of the body. Samples join the JSON path's
 * validation, ids, publishing (kinds.ts, ingest.ts): this adapter only maps remote-write onto its items.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, VigilError, type FieldError } from '../../../shared/errors.ts';
import { sendError, toVigilError } from '../../../shared/http/error-handler.ts';
import { MAX_REPORTED_ERRORS, publishRecords, type IngestDeps } from '../ingest.ts';
import type { ItemKind } from '../kinds.ts';
import { mapWriteRequest } from './mapping.ts';
import { checkHeaders, decodeWriteRequest, decompress, PROTOBUF_TYPE, uncompressedLength } from './proto.ts';

import { HTTP_STATUS } from '../../../shared/http/status.ts';

/** Refusals quoted in the error message (all of them, up to MAX_REPORTED_ERRORS, are in its details). */
const ERRORS_IN_MESSAGE = 3;

export const REMOTE_WRITE_PATH = '/api/v1/write';
/** How long a sender refused for capacity waits; Prometheus' own backoff caps retries at max_backoff (5 s). */
export const CAPACITY_RETRY_AFTER_SECONDS = 1;

export interface RemoteWriteDeps {
  ingest: IngestDeps;
  metrics: ItemKind<unknown>;
  maxBatchItems: number;
  bodyLimitBytes: number;
  /** Accounts a request's decompressed size in the gateway's in-flight bounds (may refuse it). */
  account(request: FastifyRequest, bytes: number): void;
}

export function remoteWriteRoutes(deps: RemoteWriteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      PROTOBUF_TYPE,
      { parseAs: 'buffer', bodyLimit: deps.bodyLimitBytes },
      async (request: FastifyRequest, raw: Buffer) => {
        checkHeaders(request.headers['content-type'], request.headers['content-encoding']);
        const length = uncompressedLength(raw, deps.bodyLimitBytes);
        deps.account(request, length);
        return decompress(raw, length);
      },
    );
    app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      let known = toVigilError(error);
      if (!known) {
        request.log.error({ err: error }, 'unhandled error');
        known = new VigilError('VIGIL_ERR_INTERNAL', ERRORS.VIGIL_ERR_INTERNAL.title);
      } else if (known.code === 'VIGIL_ERR_RATE_LIMITED') {
        // Prometheus 2.x drops a batch answered 429: capacity is a 503, which it retries.
        known = new VigilError('VIGIL_ERR_AT_CAPACITY', known.message, undefined, CAPACITY_RETRY_AFTER_SECONDS);
      }
      if (known.status >= HTTP_STATUS.INTERNAL_SERVER_ERROR)
        request.log.warn({ code: known.code, err: error }, known.message);
      return sendError(reply, known);
    });

    app.post(REMOTE_WRITE_PATH, { config: { endpoint: 'remote_write' } }, async (request, reply) => {
      // Fastify runs no parser on an empty body; a snappy block is never empty.
      if (!Buffer.isBuffer(request.body)) {
        checkHeaders(request.headers['content-type'], request.headers['content-encoding']);
        throw new VigilError(
          'VIGIL_ERR_MALFORMED_BODY',
          'a body is required: a snappy-compressed prometheus.WriteRequest',
        );
      }
      const mapping = mapWriteRequest(decodeWriteRequest(request.body), { maxItems: deps.maxBatchItems });
      const { metrics } = deps;
      const ctx = { requestId: undefined, createdBy: request.principal!.sub, now: Date.now() };
      const accepted: unknown[] = [];
      const errors = mapping.errors;
      let refused = mapping.refused;
      for (const { item, path } of mapping.samples) {
        const result = metrics.check(item, ctx);
        if (result.ok) accepted.push(result.value);
        else {
          refused++;
          for (const e of result.errors)
            errors.push({ field: `${path}.${e.field === 'name' ? 'labels.__name__' : e.field}`, message: e.message });
        }
      }
      const counters = deps.ingest.metrics.items;
      if (refused > 0)
        counters.inc({ endpoint: 'remote_write', outcome: 'rejected', reason: 'remote_write_invalid' }, refused);
      if (mapping.staleMarkers > 0)
        counters.inc({ endpoint: 'remote_write', outcome: 'skipped', reason: 'stale_marker' }, mapping.staleMarkers);
      if (accepted.length > 0) await publishRecords(metrics, accepted, deps.ingest);
      if (refused > 0) throw refusal(refused, accepted.length, errors);
      return reply.status(HTTP_STATUS.NO_CONTENT).send();
    });
  };
}

function refusal(refused: number, stored: number, errors: FieldError[]): VigilError {
  const listed = errors.slice(0, MAX_REPORTED_ERRORS);
  const first = listed
    .slice(0, ERRORS_IN_MESSAGE)
    .map((e) => `${e.field} ${e.message}`)
    .join('; ');
  return new VigilError(
    'VIGIL_ERR_VALIDATION',
    `${refused} samples were refused, ${stored} stored: ${first}${listed.length > ERRORS_IN_MESSAGE ? '; …' : ''}`,
    listed,
  );
}
