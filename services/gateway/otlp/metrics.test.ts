import { describe, expect, it } from 'vitest';
import { metricsToSamples } from './metrics.ts';
import { decodeRequest, signalTypes } from './proto.ts';

const LIMITS = { maxUnits: 100, maxItems: 800, maxDepth: 8 };
const TIME_NS = '1767225600000000000';
const TIME_MS = 1767225600000;
const str = (value: string) => ({ stringValue: value });
const attr = (key: string, value: string) => ({ key, value: str(value) });

/** An export request as the gateway decodes it: protobuf, as the SDKs' proto exporters send it. */
function decoded(body: object): unknown {
  const { request } = signalTypes('metrics');
  return decodeRequest('metrics', 'protobuf', Buffer.from(request.encode(request.fromObject(body)).finish()));
}

const gauge = (name: string, points: { value: number; attributes: object[] }[]) => ({
  name,
  gauge: { dataPoints: points.map((p) => ({ timeUnixNano: TIME_NS, asDouble: p.value, attributes: p.attributes })) },
});

describe('OTLP metrics → vigil samples: labels worked out once per resource and scope', () => {
  it('gives each resource and scope its own labels and each point its own label object', () => {
    const conversion = metricsToSamples(
      decoded({
        resourceMetrics: [
          {
            resource: { attributes: [attr('service.name', 'api'), attr('service.instance.id', 'i-1')] },
            scopeMetrics: [
              {
                scope: { name: 'lib-a', version: '1.0' },
                metrics: [gauge('queue.depth', [{ value: 1, attributes: [attr('q', 'a')] }])],
              },
              { metrics: [gauge('queue.depth', [{ value: 2, attributes: [attr('q', 'b')] }])] },
            ],
          },
          {
            resource: { attributes: [attr('service.namespace', 'shop'), attr('service.name', 'cart')] },
            scopeMetrics: [
              {
                metrics: [
                  gauge('queue.depth', [
                    { value: 3, attributes: [attr('q', 'c'), attr('job', 'from-attribute')] },
                    { value: 4, attributes: [attr('q.name', 'd'), attr('q_name', 'e')] },
                  ]),
                ],
              },
            ],
          },
          { scopeMetrics: [{ metrics: [gauge('queue.depth', [{ value: 5, attributes: [] }])] }] },
        ],
      }),
      LIMITS,
    );
    const sample = (value: number, labels: Record<string, string>) => ({
      name: 'queue_depth',
      metric_type: 'gauge',
      value,
      labels,
      timestamp: TIME_MS,
    });
    expect(conversion.items).toEqual([
      sample(1, { q: 'a', job: 'api', instance: 'i-1', otel_scope_name: 'lib-a', otel_scope_version: '1.0' }),
      sample(2, { q: 'b', job: 'api', instance: 'i-1' }),
      // The resource's job wins over a point attribute of the same name.
      sample(3, { q: 'c', job: 'shop/cart' }),
      sample(4, { q_name: 'd;e', job: 'shop/cart' }),
      sample(5, {}),
    ]);
    expect(conversion.unitOf).toEqual([0, 1, 2, 3, 4]);
    const labelObjects = new Set(conversion.items.map((item) => item.labels));
    expect(labelObjects.size).toBe(5);
  });

  it('names each metric by its own kind and unit, and refuses per metric', () => {
    const conversion = metricsToSamples(
      decoded({
        resourceMetrics: [
          {
            resource: { attributes: [attr('service.name', 'api')] },
            scopeMetrics: [
              {
                metrics: [
                  { ...gauge('used', [{ value: 0.5, attributes: [] }]), unit: '1' },
                  {
                    name: 'sent',
                    unit: 'By',
                    sum: {
                      aggregationTemporality: 1,
                      isMonotonic: true,
                      dataPoints: [
                        { timeUnixNano: TIME_NS, asInt: 7 },
                        { timeUnixNano: TIME_NS, asInt: 8 },
                      ],
                    },
                  },
                  {
                    name: 'level',
                    sum: {
                      aggregationTemporality: 1,
                      isMonotonic: false,
                      dataPoints: [{ timeUnixNano: TIME_NS, asInt: 1 }],
                    },
                  },
                  {
                    name: 'open',
                    sum: {
                      aggregationTemporality: 2,
                      isMonotonic: false,
                      dataPoints: [{ timeUnixNano: TIME_NS, asDouble: 3 }],
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
      LIMITS,
    );
    const labels = { job: 'api' };
    expect(conversion.items).toEqual([
      { name: 'used_ratio', metric_type: 'gauge', value: 0.5, labels, timestamp: TIME_MS },
      { name: 'sent_bytes_total', metric_type: 'counter', value: 7, labels, timestamp: TIME_MS },
      { name: 'sent_bytes_total', metric_type: 'counter', value: 8, labels, timestamp: TIME_MS },
      { name: 'open', metric_type: 'gauge', value: 3, labels, timestamp: TIME_MS },
    ]);
    expect(conversion.unitOf).toEqual([0, 1, 2, 4]);
    expect(conversion.rejected).toBe(1);
    expect(conversion.summary()).toBe(
      '1 of 5 data points rejected: resource_metrics[0].scope_metrics[0].data_points[3]: level: a non-monotonic sum ' +
        'with DELTA temporality has no Prometheus representation; export it as CUMULATIVE',
    );
  });
});
