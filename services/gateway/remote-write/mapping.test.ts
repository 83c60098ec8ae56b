import { describe, expect, it } from 'vitest';
import { VigilError } from '../../../shared/errors.ts';
import { doubleFromBits, encodeWriteRequest, STALE_MARKER_BITS, type WriteRequestInput } from './encode.ts';
import { mapWriteRequest, sampleId, seriesId, seriesKind } from './mapping.ts';
import { decodeWriteRequest } from './proto.ts';

const T = 1_700_000_000_000;
const map = (input: WriteRequestInput, maxItems = 100) =>
  mapWriteRequest(decodeWriteRequest(encodeWriteRequest(input)), { maxItems });

describe('remote-write mapping', () => {
  it('maps __name__ to the name, other labels to labels, every sample to a gauge with a derived id', () => {
    const out = map({
      timeseries: [
        {
          labels: { __name__: 'http_requests_total', job: 'api', empty: '', code: '200' },
          samples: [
            { value: 10, timestamp: T },
            { value: 12, timestamp: T + 15_000 },
          ],
        },
        { labels: { __name__: 'temperature_celsius', room: 'a' }, samples: [{ value: -3.5, timestamp: T }] },
      ],
    });
    expect(out).toEqual({
      samples: [
        {
          path: 'timeseries[0].samples[0]',
          item: {
            id: seriesId('http_requests_total', { code: '200', job: 'api' }, T),
            name: 'http_requests_total',
            metric_type: 'gauge',
            value: 10,
            labels: { job: 'api', code: '200' },
            timestamp: T,
          },
        },
        {
          path: 'timeseries[0].samples[1]',
          item: {
            id: seriesId('http_requests_total', { job: 'api', code: '200' }, T + 15_000),
            name: 'http_requests_total',
            metric_type: 'gauge',
            value: 12,
            labels: { job: 'api', code: '200' },
            timestamp: T + 15_000,
          },
        },
        {
          path: 'timeseries[1].samples[0]',
          item: {
            id: seriesId('temperature_celsius', { room: 'a' }, T),
            name: 'temperature_celsius',
            metric_type: 'gauge',
            value: -3.5,
            labels: { room: 'a' },
            timestamp: T,
          },
        },
      ],
      errors: [],
      refused: 0,
      staleMarkers: 0,
      series: 2,
      metadata: 0,
    });
  });

  it('derives one id per series and timestamp whatever the label order, another for anything else', () => {
    const id = seriesId('m', { a: '1', b: '2' }, T);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(seriesId('m', { b: '2', a: '1' }, T)).toBe(id);
    expect(
      new Set([
        id,
        seriesId('m', { a: '1', b: '2' }, T + 1),
        seriesId('m', { a: '1', b: '3' }, T),
        seriesId('n', { a: '1', b: '2' }, T),
        sampleId('m', T),
      ]).size,
    ).toBe(5);
  });

  it('skips staleness markers and counts them; keeps other samples of the series', () => {
    const out = map({
      timeseries: [
        {
          labels: { __name__: 'up' },
          samples: [
            { value: 1, timestamp: T },
            { value: doubleFromBits(STALE_MARKER_BITS), timestamp: T + 1 },
          ],
        },
      ],
    });
    expect(out.staleMarkers).toBe(1);
    expect(out.samples.map((s) => s.item.value)).toEqual([1]);
  });

  it('refuses series without __name__ or with native histograms whole, and negative running totals', () => {
    const out = map({
      timeseries: [
        {
          labels: { job: 'x' },
          samples: [
            { value: 1, timestamp: T },
            { value: 2, timestamp: T },
          ],
        },
        { labels: { __name__: 'ok' }, samples: [{ value: 1, timestamp: T }] },
        {
          labels: { __name__: 'errors_total' },
          samples: [
            { value: -1, timestamp: T },
            { value: 3, timestamp: T + 1 },
          ],
        },
        {
          labels: { __name__: 'latency_seconds' },
          samples: [],
          histograms: [Uint8Array.of(8, 1), Uint8Array.of(8, 2)],
        },
      ],
    });
    expect(out.errors).toEqual([
      { field: 'timeseries[0].labels', message: 'has no __name__ label (the metric name)' },
      {
        field: 'timeseries[2].samples[0].value',
        message:
          'must not be negative: errors_total is a running total ' +
          '(a counter or a histogram/summary count or sum), got -1',
      },
      {
        field: 'timeseries[3].histograms',
        message: 'native histograms are not supported (2 sent); scrape classic histograms',
      },
    ]);
    expect(out.refused).toBe(5);
    expect(out.samples.map((s) => s.path)).toEqual(['timeseries[1].samples[0]', 'timeseries[2].samples[1]']);
  });

  it('classifies running totals by metadata when the request has it, else by name', () => {
    const none = new Map();
    expect(['x_total', 'x_bucket', 'x_count', 'x_sum'].map((n) => seriesKind(n, {}, none))).toEqual(
      Array(4).fill('cumulative'),
    );
    expect(seriesKind('queue_length', {}, none)).toBe('gauge');
    const families = new Map([
      ['requests', 'counter'],
      ['latency', 'histogram'],
      ['rpc', 'summary'],
      ['pending_count', 'gauge'],
      ['odd_total', 'unknown'],
    ] as const);
    expect(seriesKind('requests', {}, families)).toBe('cumulative');
    expect(seriesKind('requests_total', {}, families)).toBe('cumulative');
    expect(seriesKind('latency_bucket', { le: '0.1' }, families)).toBe('cumulative');
    expect(seriesKind('rpc', { quantile: '0.99' }, families)).toBe('gauge');
    expect(seriesKind('rpc_count', {}, families)).toBe('cumulative');
    // A gauge whose name looks like a count: the metadata wins over the name.
    expect(seriesKind('pending_count', {}, families)).toBe('gauge');
    // Unknown type: the name decides.
    expect(seriesKind('odd_total', {}, families)).toBe('cumulative');
  });

  it('takes the type from metadata in the same request: a gauge may go negative even when named _count', () => {
    const out = map({
      timeseries: [{ labels: { __name__: 'drift_count' }, samples: [{ value: -2, timestamp: T }] }],
      metadata: [{ type: 2, metricFamilyName: 'drift_count' }],
    });
    expect([out.refused, out.samples.length, out.metadata]).toEqual([0, 1, 1]);
  });

  it('bounds series and samples per request (413)', () => {
    const series = (n: number) => Array.from({ length: n }, (_, i) => ({ labels: { __name__: `m${i}` }, samples: [] }));
    expect(() => map({ timeseries: series(3) }, 2)).toThrow(
      new VigilError(
        'VIGIL_ERR_PAYLOAD_TOO_LARGE',
        'the request has 3 series; at most 2 are accepted (INGEST_MAX_BATCH_ITEMS): ' +
          "lower the sender's max_samples_per_send",
      ),
    );
    const samples = [{ labels: { __name__: 'm' }, samples: [1, 2, 3].map((v) => ({ value: v, timestamp: T + v })) }];
    expect(() => map({ timeseries: samples }, 2)).toThrow(/the request has 3 samples; at most 2 are accepted/);
  });

  it('maps a metadata-only request to nothing', () => {
    expect(map({ metadata: [{ type: 1, metricFamilyName: 'x_total' }] })).toEqual({
      samples: [],
      errors: [],
      refused: 0,
      staleMarkers: 0,
      series: 0,
      metadata: 1,
    });
  });
});
