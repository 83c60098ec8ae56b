/**
 * OTLP/HTTP ingest: POST /v1/logs, /v1/metrics, /v1/traces. Status semantics of the OTLP/HTTP specification:
 *   200  ExportServiceResponse, with partial_success {rejected_<items>, error_message} when some were refused
 *        (invalid items of any kind; a request whose every item is invalid too: the body itself was fine)
 *   400  the body does not decode (SDKs never retry it); 401/403 token; 413 over INGEST_BODY_LIMIT_BYTES
 *        (decompressed) or INGEST_MAX_BATCH_ITEMS; 415 another Content-Type or Content-Encoding
 *   429  the gateway's in-flight bounds; 503 Kafka did not acknowledge in time — both with Retry-After ≤ 2 s, which
 *        SDKs honour within their export timeout
 * Every 4xx/5xx body is a google.rpc.Status ({code, message}) in the request's encoding; answers are protobuf for a
 * protobuf request, JSON otherwise. The items go through the JSON path's own validation, redaction, ids and
 * publishing (kinds.ts, ingest.ts): this adapter only maps OTLP onto the items a JSON client would post.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, VigilError, type FieldError } from '../../../shared/errors.ts';
import { toVigilError } from '../../../shared/http/error-handler.ts';
import { publishRecords, type IngestDeps } from '../ingest.ts';
import type { ItemKind } from '../kinds.ts';
import type { Endpoint } from '../metrics.ts';
import type { Conversion, ConversionLimits } from './conversion.ts';
import { logsToEvents } from './logs.ts';
import { metricsToSamples } from './metrics.ts';
import {
  decodeRequest,
  encodeResponse,
  encodeStatus,
  encodingOf,
  JSON_TYPE,
  PROTOBUF_TYPE,
  type Encoding,
  type Signal,
} from './proto.ts';
import { tracesToEvents } from './traces.ts';

import { HTTP_STATUS } from '../../../shared/http/status.ts';

/** One vigil item per unit at most … a histogram point with many buckets is several: the item bound is wider. */
export const ITEMS_PER_UNIT_BOUND = 8;

export interface OtlpDeps {
  ingest: IngestDeps;
  events: ItemKind<unknown>;
  metrics: ItemKind<unknown>;
  maxBatchItems: number;
  maxDepth: number;
  bodyLimitBytes: number;
  /** Undoes Content-Encoding within the body limit and accounts the decompressed size (the JSON path's own). */
  decodeBody(request: FastifyRequest, raw: Buffer): Promise<Buffer>;
}

const SIGNALS: {
  signal: Signal;
  endpoint: Endpoint;
  convert: (request: unknown, limits: ConversionLimits) => Conversion;
}[] = [
  { signal: 'logs', endpoint: 'otlp_logs', convert: logsToEvents },
  { signal: 'traces', endpoint: 'otlp_traces', convert: tracesToEvents },
  { signal: 'metrics', endpoint: 'otlp_metrics', convert: metricsToSamples },
];

/** gRPC status codes for google.rpc.Status, by HTTP status. */
const GRPC_CODES: Record<number, number> = {
  400: 3,
  401: 16,
  403: 7,
  404: 5,
  413: 8,
  415: 3,
  429: 8,
  500: 13,
  503: 14,
  504: 4,
};

export function otlpRoutes(deps: OtlpDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      [PROTOBUF_TYPE, JSON_TYPE],
      { parseAs: 'buffer', bodyLimit: deps.bodyLimitBytes },
      async (request: FastifyRequest, raw: Buffer) => deps.decodeBody(request, raw),
    );
    app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      let known = toVigilError(error);
      if (!known) {
        request.log.error({ err: error }, 'unhandled error');
        known = new VigilError('VIGIL_ERR_INTERNAL', ERRORS.VIGIL_ERR_INTERNAL.title);
      } else if (known.status >= HTTP_STATUS.INTERNAL_SERVER_ERROR)
        request.log.warn({ code: known.code, err: error }, known.message);
      return sendStatus(reply, encodingOf(request.headers['content-type']) ?? 'json', known);
    });

    for (const { signal, endpoint, convert } of SIGNALS) {
      app.post(`/v1/${signal}`, { config: { endpoint } }, async (request, reply) => {
        const encoding = encodingOf(request.headers['content-type']);
        if (encoding === null) {
          throw new VigilError(
            'VIGIL_ERR_UNSUPPORTED_MEDIA_TYPE',
            `send Content-Type ${PROTOBUF_TYPE} or ${JSON_TYPE} with an OTLP export request`,
          );
        }
        // An empty body is an empty export request (Fastify does not run parsers on it).
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const message = decodeRequest(signal, encoding, body);
        const limits = {
          maxUnits: deps.maxBatchItems,
          maxItems: deps.maxBatchItems * ITEMS_PER_UNIT_BOUND,
          maxDepth: deps.maxDepth,
        };
        const conversion = convert(message, limits);
        const kind = signal === 'metrics' ? deps.metrics : deps.events;
        const given = request.headers['x-request-id'] === request.id;
        await acceptItems(
          kind,
          conversion,
          { requestId: given ? request.id : undefined, createdBy: request.principal!.sub },
          deps.ingest,
        );
        reply.status(HTTP_STATUS.OK).header('content-type', encoding === 'json' ? JSON_TYPE : PROTOBUF_TYPE);
        return reply.send(encodeResponse(signal, encoding, conversion.rejected, conversion.summary()));
      });
    }
  };
}

/**
 * Validates every item with its kind's own check (enrichment, redaction, ids, limits), rejects the units that
 * have an invalid item, publishes the items of the others and waits for Kafka's acknowledgement.
 */
async function acceptItems<R>(
  kind: ItemKind<R>,
  conversion: Conversion,
  req: { requestId: string | undefined; createdBy: string },
  deps: IngestDeps,
): Promise<void> {
  const now = Date.now();
  const ctx = { requestId: req.requestId, createdBy: req.createdBy, now };
  const records: (R | null)[] = new Array(conversion.items.length);
  const mappingRejections = conversion.rejected;
  for (let i = 0; i < conversion.items.length; i++) {
    const result = kind.check(conversion.items[i], ctx);
    if (result.ok) records[i] = result.value;
    else {
      records[i] = null;
      conversion.reject(conversion.unitOf[i], describeErrors(result.errors));
    }
  }
  const accepted: R[] = [];
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    if (record !== null && !conversion.isRejected(conversion.unitOf[i])) accepted.push(record);
  }
  const rejectedItems = conversion.items.length - accepted.length;
  if (rejectedItems > 0)
    deps.metrics.items.inc({ endpoint: kind.endpoint, outcome: 'rejected', reason: 'otlp_invalid' }, rejectedItems);
  if (mappingRejections > 0)
    deps.metrics.items.inc(
      { endpoint: kind.endpoint, outcome: 'rejected', reason: 'otlp_unsupported' },
      mappingRejections,
    );
  if (accepted.length > 0) await publishRecords(kind, accepted, deps);
}

const MAX_ERRORS_PER_ITEM = 3;

function describeErrors(errors: FieldError[]): string {
  const shown = errors
    .slice(0, MAX_ERRORS_PER_ITEM)
    .map((e) => `${e.field} ${e.message}`)
    .join(', ');
  return errors.length > MAX_ERRORS_PER_ITEM ? `${shown} (and ${errors.length - MAX_ERRORS_PER_ITEM} more)` : shown;
}

function sendStatus(reply: FastifyReply, encoding: Encoding, error: VigilError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  reply.status(error.status).header('content-type', encoding === 'json' ? JSON_TYPE : PROTOBUF_TYPE);
  return reply.send(encodeStatus(encoding, GRPC_CODES[error.status] ?? 2, `${error.code}: ${error.message}`));
}
