/**
 * The items bench/otlp.ts and bench/otlp-stages.ts send, in each form: `items` log records and gauge points over
 * `services` sources (resources), as vigil JSON arrays and as OTLP export requests (the object of the OTLP JSON
 * encoding; protobuf() encodes one as the SDKs' proto exporters do).
 */
import { signalTypes } from '../services/gateway/otlp/proto.ts';

export function otlpPayloads(items: number, services: number) {
  const nowMs = Date.now();
  const nowNs = String(BigInt(nowMs) * 1_000_000n);
  const traceId = '5b8efff798038103d269b633813fc60c';
  const spanId = 'eee19b7ec3c1b174';
  const str = (value: string) => ({ stringValue: value });
  const byService = <T>(make: (service: number, i: number) => T): T[][] => {
    const groups: T[][] = Array.from({ length: services }, () => []);
    for (let i = 0; i < items; i++) groups[i % services].push(make(i % services, i));
    return groups;
  };

  const logs = {
    json: JSON.stringify(
      Array.from({ length: items }, (_, i) => ({
        event_type: 'log',
        source: `web-server-${i % services}`,
        message: 'Request processed successfully',
        level: 'info',
        tags: { service: 'api', environment: 'production', request_id: `req-${i}`, trace_id: traceId, span_id: spanId },
        timestamp: nowMs,
      })),
    ),
    otlp: {
      resourceLogs: byService((_s, i) => ({
        timeUnixNano: nowNs,
        severityNumber: 9,
        body: str('Request processed successfully'),
        attributes: [
          { key: 'service', value: str('api') },
          { key: 'environment', value: str('production') },
          { key: 'request_id', value: str(`req-${i}`) },
        ],
        traceId,
        spanId,
      })).map((records, s) => ({
        resource: { attributes: [{ key: 'service.name', value: str(`web-server-${s}`) }] },
        scopeLogs: [{ logRecords: records }],
      })),
    },
  };

  const metrics = {
    json: JSON.stringify(
      Array.from({ length: items }, (_, i) => ({
        name: 'http_server_active_requests',
        metric_type: 'gauge',
        value: i,
        labels: { job: `web-server-${i % services}`, method: 'GET', route: `/api/r${i}` },
        timestamp: nowMs,
      })),
    ),
    otlp: {
      resourceMetrics: byService((_s, i) => ({
        timeUnixNano: nowNs,
        asDouble: i,
        attributes: [
          { key: 'method', value: str('GET') },
          { key: 'route', value: str(`/api/r${i}`) },
        ],
      })).map((points, s) => ({
        resource: { attributes: [{ key: 'service.name', value: str(`web-server-${s}`) }] },
        scopeMetrics: [{ metrics: [{ name: 'http.server.active_requests', gauge: { dataPoints: points } }] }],
      })),
    },
  };

  return { logs, metrics, protobuf };
}

/** An OTLP JSON request as the protobuf body an SDK's proto exporter sends. */
function protobuf(signal: 'logs' | 'metrics', json: object): Buffer {
  const { request } = signalTypes(signal);
  // fromObject takes bytes as base64; OTLP JSON's hex ids are what the gateway converts, so convert them here.
  const text = JSON.stringify(json, (key, value) =>
    key === 'traceId' || key === 'spanId' ? Buffer.from(value, 'hex').toString('base64') : value,
  );
  return Buffer.from(request.encode(request.fromObject(JSON.parse(text))).finish());
}
