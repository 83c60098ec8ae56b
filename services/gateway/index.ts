/**
 * The ingest gateway: POST /api/v1/monitoring/events and /metrics (single, batch, NDJSON, gzip), OTLP/HTTP's
 * POST /v1/logs, /v1/metrics, /v1/traces (otlp/, mapped onto the same items) and Prometheus remote_write's
 * POST /api/v1/write (remote-write/, mapped onto the same metric samples). It authenticates
 * (the shared auth plugin), sheds load beyond its in-flight bounds (429), validates each item, assigns ids, encodes
 * Avro and produces with acks=all through one batching producer shared by all requests; it answers 202 only after
 * Kafka acknowledged, and 503 + Retry-After when Kafka does not answer within INGEST_PRODUCE_TIMEOUT_MS.
 */
import { Transform, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { VigilError } from '../../shared/errors.ts';
import { TopicPartitioner } from '../../shared/kafka/partitioner.ts';
import { RecordSeal } from '../../shared/kafka/seal.ts';
import { BatchingProducer } from '../../shared/kafka/producer.ts';
import { probeBrokers } from '../../shared/kafka/probe.ts';
import type { RoleDeps, RoleHandle } from '../../shared/role.ts';
import { decodeContent, drain, JSON_TYPES, NDJSON_TYPES, readBody, type BodyLimits, type ParsedBody } from './body.ts';
import { ingest, type IngestDeps } from './ingest.ts';
import { eventKind, maxItemValues, metricKind, type ItemKind } from './kinds.ts';
import { LoadShedder, type Ticket } from './load-shedder.ts';
import { createGatewayMetrics, type Endpoint } from './metrics.ts';
import { otlpRoutes } from './otlp/routes.ts';
import { remoteWriteRoutes } from './remote-write/routes.ts';

/** The gateway holds no PostgreSQL pool: ingest goes to Kafka only. */
export type GatewayDeps = Omit<RoleDeps, 'pool'>;

declare module 'fastify' {
  interface FastifyRequest {
    ingestTicket: Ticket | null;
  }
  interface FastifyContextConfig {
    endpoint?: Endpoint;
  }
}

export async function startGateway(deps: GatewayDeps): Promise<RoleHandle> {
  const { config } = deps;
  const limits = config.ingest;
  // The shedder bounds what requests hold; the producer's own queue bound is a backstop above it (Avro records
  // carry ids and created_by that the JSON bodies did not, so they can outweigh the bodies they came from).
  const metrics = createGatewayMetrics(deps.registry);
  const onRecord = (topic: string, items: number) =>
    metrics.recordItems.observe({ endpoint: topic === config.kafka.topics.events ? 'events' : 'metrics' }, items);
  const producer = new BatchingProducer(deps.kafka, {
    timeoutMs: limits.produceTimeoutMs,
    maxQueuedBytes: 2 * limits.maxInFlightBytes,
    onRecord,
    // What the gateway publishes it validated: sealed, the writer stores it without validating it again.
    seal: RecordSeal.of(config.kafka.sealSecret),
  });
  await producer.connect();
  const shedder = new LoadShedder(limits.maxInFlightRequests, limits.maxInFlightBytes, (reason) =>
    metrics.shed.inc({ reason }),
  );
  metrics.watch(shedder);
  const ingestDeps: IngestDeps = { producer, metrics, maxBatchItems: limits.maxBatchItems };

  const { codecs } = deps;
  // The partition counts (the producer's own) are read now, in the background; a request waits for one at most
  // its produce deadline.
  const partitioners = [config.kafka.topics.events, config.kafka.topics.metrics].map(
    (topic) => new TopicPartitioner(producer, topic, { waitMs: limits.produceTimeoutMs }),
  );
  for (const partitioner of partitioners) partitioner.warm();
  const events = eventKind(config, codecs.get('Event')!, codecs.get('EventBundle')!, partitioners[0]);
  const metricsKind = metricKind(config, codecs.get('Metric')!, codecs.get('MetricBundle')!, partitioners[1]);
  const bodyLimits: BodyLimits = {
    maxBytes: limits.bodyLimitBytes,
    maxItems: limits.maxBatchItems,
    maxItemValues: maxItemValues(config),
  };

  const routes: FastifyPluginAsync = async (app) => {
    app.decorateRequest('ingestTicket', null);
    // Only this plugin's routes: JSON and NDJSON, any Content-Encoding; read, inflated and split as a stream with
    // every bound applied as bytes arrive (body.ts).
    app.removeAllContentTypeParsers();
    // The protocol adapters (OTLP) decode their bodies whole: bounded by the same limit, inflated off the event loop.
    const decodeBody = async (request: FastifyRequest, raw: Buffer): Promise<Buffer> => {
      const bytes = await decodeContent(request.headers['content-encoding'], raw, limits.bodyLimitBytes);
      if (request.ingestTicket) shedder.resize(request.ingestTicket, bytes.length);
      return bytes;
    };
    app.addContentTypeParser([...JSON_TYPES, ...NDJSON_TYPES], async (request: FastifyRequest, payload: Readable) => {
      if (Number(request.headers['content-length']) > limits.bodyLimitBytes) {
        drain(payload, 2 * limits.bodyLimitBytes); // a body somewhat over the limit still gets its answer
        throw new VigilError(
          'VIGIL_ERR_PAYLOAD_TOO_LARGE',
          `the body exceeds the limit of ${limits.bodyLimitBytes} bytes`,
        );
      }
      const ticket = request.ingestTicket;
      return readBody(payload, {
        contentType: request.headers['content-type'],
        encoding: request.headers['content-encoding'],
        limits: bodyLimits,
        shape: request.routeOptions.config.endpoint === 'metrics' ? metricsKind : events,
        onDecodedBytes: ticket ? (bytes) => bytes > ticket.bytes && shedder.resize(ticket, bytes) : undefined,
      });
    });

    // After authentication (a root hook): unauthenticated clients never take capacity. A declared length is
    // reserved before a byte is read; a chunked body is counted as it arrives (preParsing below).
    app.addHook('onRequest', async (request) => {
      const declared = Number(request.headers['content-length']);
      request.ingestTicket = shedder.admit(Number.isFinite(declared) && declared >= 0 ? declared : 0);
    });
    app.addHook('preParsing', async (request, _reply, payload) => {
      const ticket = request.ingestTicket;
      if (ticket === null || request.headers['content-length'] !== undefined) return payload;
      let received = 0;
      return payload.pipe(
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            received += chunk.length;
            try {
              shedder.resize(ticket, received);
              callback(null, chunk);
            } catch (error) {
              callback(error as Error);
            }
          },
        }),
      );
    });
    const release = async (request: FastifyRequest) => {
      if (request.ingestTicket) shedder.release(request.ingestTicket);
    };
    app.addHook('onResponse', async (request, reply) => {
      await release(request);
      const endpoint = request.routeOptions.config.endpoint;
      if (endpoint) metrics.requests.inc({ endpoint, status: String(reply.statusCode) });
    });
    app.addHook('onRequestAbort', release);

    route(app, events, ingestDeps);
    route(app, metricsKind, ingestDeps);
    // OTLP/HTTP in a child context (its own body parsers and error answers), under the same hooks.
    await app.register(
      otlpRoutes({
        ingest: ingestDeps,
        events: events as ItemKind<unknown>,
        metrics: metricsKind as ItemKind<unknown>,
        maxBatchItems: limits.maxBatchItems,
        maxDepth: limits.maxDepth,
        bodyLimitBytes: limits.bodyLimitBytes,
        decodeBody,
      }),
    );
    // Remote-write in a child context (its own body parser and answers), under the same hooks and bounds.
    await app.register(
      remoteWriteRoutes({
        ingest: ingestDeps,
        metrics: metricsKind as ItemKind<unknown>,
        maxBatchItems: limits.maxBatchItems,
        bodyLimitBytes: limits.bodyLimitBytes,
        account: (request, bytes) => {
          if (request.ingestTicket) shedder.resize(request.ingestTicket, bytes);
        },
      }),
    );
  };

  return {
    name: 'gateway',
    routes: [routes],
    readiness: { kafka: () => probeBrokers(config.kafka.brokers) },
    stop: () => producer.close(),
  };
}

function route<R>(app: FastifyInstance, kind: ItemKind<R>, deps: IngestDeps): void {
  app.post(
    `/api/v1/monitoring/${kind.endpoint}`,
    { config: { endpoint: kind.endpoint } },
    async (request: FastifyRequest, reply: FastifyReply) => {
      // No body at all (no Content-Type, nothing sent): the parsers never ran.
      if (request.body === undefined || request.body === null)
        throw new VigilError(
          'VIGIL_ERR_MALFORMED_BODY',
          `a body is required: one ${kind.noun}, a batch or NDJSON (Content-Type: application/json or ` +
            `application/x-ndjson)`,
        );
      const requestIdGiven = request.headers['x-request-id'] === request.id;
      const answer = await ingest(
        kind,
        { body: request.body as ParsedBody, requestId: request.id, requestIdGiven, createdBy: request.principal!.sub },
        deps,
      );
      return reply.status(answer.status).send({ success: true, data: answer.data });
    },
  );
}
