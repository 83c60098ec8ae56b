import { describe, expect, it } from 'vitest';
import { attributesToLabels, labelName, metricName } from './names.ts';
import { formatBound } from './metrics.ts';
import { levelOf } from './logs.ts';
import { anyValueToJson, idToHex, nanosBetween, nanosToMillis } from './values.ts';

describe('Prometheus names of OTLP metrics', () => {
  it.each([
    ['http.server.duration', 'ms', 'other', 'http_server_duration_milliseconds'],
    ['http.server.request.size', 'By', 'other', 'http_server_request_size_bytes'],
    ['checkout.orders', '{order}', 'counter', 'checkout_orders_total'],
    ['requests_total', '', 'counter', 'requests_total'],
    ['requests', '1', 'counter', 'requests_total'],
    ['cpu.utilization', '1', 'gauge', 'cpu_utilization_ratio'],
    ['disk.io', 'By/s', 'counter', 'disk_io_bytes_per_second_total'],
    ['throughput', '1/s', 'gauge', 'throughput_per_second'],
    ['latency_seconds', 's', 'other', 'latency_seconds'],
    ['2xx.count', '', 'gauge', '_2xx_count'],
    ['weird--name!!x', 'Cel', 'gauge', 'weird_name_x_celsius'],
    ['a', 'km', 'gauge', 'a_km'],
  ] as const)('%s [%s] as %s → %s', (name, unit, kind, expected) => {
    expect(metricName(name, unit, kind)).toBe(expected);
  });

  it('sanitises label names and joins the values of colliding ones in key order', () => {
    expect(['http.method', '0day', '_private', '__reserved', 'ok_1', ''].map(labelName)).toEqual([
      'http_method',
      'key_0day',
      'key_private',
      'key__reserved',
      'ok_1',
      'key_',
    ]);
    const labels = attributesToLabels(
      [
        { key: 'a-x', value: { value: 'stringValue', stringValue: 'two' } },
        { key: 'a.x', value: { value: 'stringValue', stringValue: 'one' } },
        { key: 'n', value: { value: 'intValue', intValue: 3 } },
        {
          key: 'flags',
          value: { value: 'arrayValue', arrayValue: { values: [{ value: 'boolValue', boolValue: true }] } },
        },
      ],
      32,
    );
    // 'a-x' sorts before 'a.x'
    expect(labels).toEqual({ a_x: 'two;one', n: '3', flags: '[true]' });
  });

  it('writes bounds and quantiles as Prometheus does', () => {
    expect([0.005, 1, 1e21, Infinity, -Infinity].map(formatBound)).toEqual(['0.005', '1', '1e+21', '+Inf', '-Inf']);
  });
});

describe('OTLP values', () => {
  it('maps severity numbers (and, when unspecified, texts) onto levels', () => {
    expect([1, 4, 5, 9, 12, 13, 17, 20, 21, 24].map((n) => levelOf(n, undefined))).toEqual([
      'trace',
      'trace',
      'debug',
      'info',
      'info',
      'warn',
      'error',
      'error',
      'fatal',
      'fatal',
    ]);
    expect([
      levelOf(0, 'WARNING'),
      levelOf(0, 'Error'),
      levelOf(0, 'loud'),
      levelOf(undefined, undefined),
      levelOf(25, undefined),
    ]).toEqual(['warn', 'error', null, null, null]);
  });

  it('turns AnyValues into JSON, bounded in depth', () => {
    const big = {
      value: 'intValue',
      intValue: { toNumber: () => 2 ** 60, toString: () => '1152921504606846976' },
    } as never;
    expect(anyValueToJson(big, 32)).toBe('1152921504606846976');
    expect(anyValueToJson({ value: 'doubleValue', doubleValue: NaN }, 32)).toBe('NaN');
    expect(anyValueToJson({ value: 'bytesValue', bytesValue: Uint8Array.of(1, 2) }, 32)).toBe('AQI=');
    const kv = {
      value: 'kvlistValue',
      kvlistValue: {
        values: [
          {
            key: 'a',
            value: { value: 'arrayValue', arrayValue: { values: [{ value: 'stringValue', stringValue: 'x' }] } },
          },
        ],
      },
    };
    expect(anyValueToJson(kv, 32)).toEqual({ a: ['x'] });
    expect(anyValueToJson(kv, 2)).toEqual({ a: [null] });
  });

  it('reads nanosecond times and ids', () => {
    expect(nanosToMillis('1700000000123456789')).toBe(1700000000123);
    // The sum high·4294.967296 + low/10^6 in floating point rounded this one down a millisecond.
    const ns = 1796599401555000000n;
    const long = { high: Number(ns >> 32n), low: Number(ns & 0xffffffffn) } as never;
    expect(nanosToMillis(long)).toBe(1796599401555);
    for (let ms = 1796599401000; ms < 1796599402000; ms++) {
      const n = BigInt(ms) * 1_000_000n;
      expect(nanosToMillis({ high: Number(n >> 32n), low: Number(n & 0xffffffffn) } as never)).toBe(ms);
    }
    expect(nanosToMillis(0)).toBeNull();
    expect(nanosBetween('1700000000000000000', '1700000000001500000')).toBe(1_500_000);
    expect(nanosBetween('5', '3')).toBe(0);
    expect(idToHex(Buffer.from('00f067aa0ba902b7', 'hex'), 8, 'span_id')).toBe('00f067aa0ba902b7');
    expect(idToHex(Buffer.alloc(8), 8, 'span_id')).toEqual(new Error('span_id must not be all zeros'));
    expect(idToHex([] as never, 8, 'span_id')).toBe('');
    expect(idToHex([1, 2] as never, 8, 'span_id')).toEqual(new Error('span_id must be 16 hex digits'));
  });
});
