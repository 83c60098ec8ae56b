/**
 * vigil/client: instrument a Node service in a few lines.
 *
 *   import Fastify from 'fastify';
 *   import { createClient, vigilFastify, genReqId } from 'vigil/client';
 *
 *   const vigil = createClient({ source: 'payment-service', gateway: { url: 'http://127.0.0.1:8080', token } });
 *   const app = Fastify({ genReqId });
 *   await app.register(vigilFastify, { client: vigil });
 *   app.post('/payments', async (request) => {
 *     request.vigil.logger.info('Payment processing started', { amount, currency });
 *     vigil.metric.counter('payments_total', 1, { currency });
 *   });
 *   // on shutdown: await app.close(); await vigil.close();
 *
 * Imports nothing server-side: only the pure validation and redaction modules of shared/ (and the Kafka producer,
 * lazily, in Kafka mode).
 */
export {
  createClient,
  VigilClient,
  type ClientOptions,
  type ClientStats,
  type MetricHelpers,
  type MetricSeries,
} from './client.ts';
export { EventLogger, type Tags } from './event-logger.ts';
export { DEFAULT_DURATION_BUCKETS_MS } from './histograms.ts';
export type { EventInput, MetricInput } from './encode.ts';
export { VigilClientError, type ClientErrorCode, type ErrorReporter } from './errors.ts';
export type { StreamStats } from './stream.ts';
export type { Transport, SendOutcome, StreamKind } from './transport.ts';
export type { TokenSource } from './http-transport.ts';
export type { KafkaTransportOptions } from './kafka-transport.ts';
export { genReqId, isValidRequestId, REQUEST_ID_HEADER } from './request-id.ts';
export {
  vigilFastify,
  defaultSkip,
  isHealthCheck,
  isStaticFile,
  DURATION_METRIC,
  REQUESTS_METRIC,
  UNMATCHED_ROUTE,
  type VigilPluginOptions,
  type VigilRequest,
} from './fastify-plugin.ts';
export { DEFAULT_SENSITIVE_KEYS, REDACTED } from '../shared/redact.ts';
