/**
 * The ingest gateway: authenticates, validates, assigns ids, encodes Avro and produces with acks=all; it answers
 * 202 only after Kafka acknowledged, and 503 + Retry-After when Kafka does not answer within the deadline.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../../shared/config.ts';
import type { Kafka } from '../../shared/kafka/client.ts';
import { BatchingProducer } from '../../shared/kafka/producer.ts';
import { probeBrokers } from '../../shared/kafka/probe.ts';
import { HEADER_PRODUCER, HEADER_SCHEMA } from '../../shared/kafka/topics.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import { DEFAULT_EVENT_LIMITS, eventToJson, validateEvent } from '../../shared/schemas/event.ts';
import { isPlainObject } from '../../shared/schemas/validate.ts';
import { validationError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import type { RoleHandle } from '../../shared/role.ts';

export interface GatewayDeps {
  config: Config;
  logger: Logger;
  kafka: Kafka;
  codecs: ReadonlyMap<string, Codec>;
}

export async function startGateway(deps: GatewayDeps): Promise<RoleHandle> {
  const { config } = deps;
  const producer = new BatchingProducer(deps.kafka, { timeoutMs: config.ingest.produceTimeoutMs });
  await producer.connect();
  const eventCodec = deps.codecs.get('Event')!;
  const window = () => ({
    now: Date.now(),
    retentionDays: config.storage.eventRetentionDays,
    futureGraceSeconds: config.ingest.futureGraceSeconds,
  });

  const routes: FastifyPluginAsync = async (app) => {
    app.post('/api/v1/monitoring/events', async (request, reply) => {
      const body = withRequestId(request.body, request.id);
      const result = validateEvent(body, { window: window(), limits: DEFAULT_EVENT_LIMITS, createdBy: request.principal!.sub });
      if (!result.ok) throw validationError(result.errors);
      const event = result.value;
      await producer.publish(config.kafka.topics.events, [
        {
          key: event.source,
          value: eventCodec.encode(event),
          headers: { [HEADER_SCHEMA]: eventCodec.schemaId, [HEADER_PRODUCER]: 'gateway' },
        },
      ]);
      return reply.status(202).send({ success: true, data: eventToJson(event) });
    });
  };

  return {
    name: 'gateway',
    routes: [routes],
    readiness: { kafka: () => probeBrokers(config.kafka.brokers) },
    stop: () => producer.close(),
  };
}

/** Records the request id in tags.request_id when the event carries none (the seed's correlation strategy). */
function withRequestId(body: unknown, requestId: string): unknown {
  if (!isPlainObject(body)) return body;
  const tags = body.tags ?? {};
  if (!isPlainObject(tags) || 'request_id' in tags) return body;
  return { ...body, tags: { ...tags, request_id: requestId } };
}
