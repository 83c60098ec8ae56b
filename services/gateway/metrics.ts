/**
 * The gateway's own telemetry on the process's GET /metrics (no token). Labels are bounded: endpoint (events,
 * metrics), HTTP status, outcome, and a reason drawn from the fixed field names (unknown fields count as
 * `unknown_field`), never client-chosen text.
 */
import { Counter, Gauge, Histogram, type Registry } from '../../shared/metrics.ts';
import type { FieldError } from '../../shared/errors.ts';
import type { LoadShedder, ShedReason } from './load-shedder.ts';

export type Endpoint = 'events' | 'metrics' | 'otlp_logs' | 'otlp_metrics' | 'otlp_traces' | 'remote_write';

export interface GatewayMetrics {
  requests: Counter<'endpoint' | 'status'>;
  items: Counter<'endpoint' | 'outcome' | 'reason'>;
  produceSeconds: Histogram<'endpoint'>;
  recordItems: Histogram<'endpoint'>;
  shed: Counter<'reason'>;
  watch(shedder: LoadShedder): void;
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  let shedder: LoadShedder | null = null;
  new Gauge({
    name: 'vigil_gateway_inflight_bytes',
    help: 'Request body bytes (decompressed) the gateway holds now',
    registers: [registry],
    collect() {
      this.set(shedder?.inFlightBytes ?? 0);
    },
  });
  new Gauge({
    name: 'vigil_gateway_inflight_requests',
    help: 'Ingest requests the gateway works on now',
    registers: [registry],
    collect() {
      this.set(shedder?.inFlightRequests ?? 0);
    },
  });
  return {
    requests: new Counter({
      name: 'vigil_gateway_requests_total',
      help: 'Ingest requests answered, by endpoint and HTTP status',
      labelNames: ['endpoint', 'status'],
      registers: [registry],
    }),
    items: new Counter({
      name: 'vigil_gateway_items_total',
      help:
        'Events and metric samples received, by outcome (accepted, rejected) and reason (the first offending ' +
        'field, malformed_json, kafka_unavailable)',
      labelNames: ['endpoint', 'outcome', 'reason'],
      registers: [registry],
    }),
    produceSeconds: new Histogram({
      name: 'vigil_gateway_produce_seconds',
      help: "Time from handing a request's records to the producer until Kafka acknowledged them (acks=all)",
      labelNames: ['endpoint'],
      // biome-ignore lint/style/noMagicNumbers: histogram bucket bounds
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    recordItems: new Histogram({
      name: 'vigil_gateway_record_items',
      help:
        'Items per Kafka record (bundle) acknowledged: a record costs the producer the same CPU whatever it ' +
        'carries',
      labelNames: ['endpoint'],
      // biome-ignore lint/style/noMagicNumbers: histogram bucket bounds
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
      registers: [registry],
    }),
    shed: new Counter({
      name: 'vigil_gateway_shed_requests_total',
      help: 'Requests refused with 429 because in-flight bounds were reached, by bound',
      labelNames: ['reason'],
      registers: [registry],
    }),
    watch(s) {
      shedder = s;
    },
  };
}

const FIELDS = new Set([
  'id',
  'event_type',
  'source',
  'message',
  'level',
  'tags',
  'payload',
  'timestamp',
  'name',
  'metric_type',
  'value',
  'labels',
]);

/** A bounded label for a rejected item: the first offending known field, or a fixed category. */
export function rejectionReason(error: FieldError): string {
  if (error.field.startsWith('(') && error.message.startsWith(TOO_MANY_VALUES)) return 'too_many_values';
  if (error.field === '(line)') return 'malformed_json';
  if (error.field === '(body)') return 'not_an_object';
  const dot = error.field.indexOf('.');
  const top = dot < 0 ? error.field : error.field.slice(0, dot);
  return FIELDS.has(top) ? top : 'unknown_field';
}

/** How body.ts words an item rejected unparsed for holding more structural tokens than any valid item. */
const TOO_MANY_VALUES = 'has more than ';

export type { ShedReason };
