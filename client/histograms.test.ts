/**
 * Aggregated histograms: bucket counting, the wire samples a drain produces (Prometheus' _bucket/_sum/_count as
 * counter increments), and metric.aggregatedHistogram through the client (validation, sharing, bound, interval).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../shared/wait.ts';
import { createClient, type ClientOptions, type VigilClient } from './client.ts';
import type { PreparedSeries } from './encode.ts';
import type { VigilClientError } from './errors.ts';
import { AggregatedHistogram, invalidBounds } from './histograms.ts';
import { MemoryTransport } from './testing/memory-transport.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AggregatedHistogram', () => {
  const wire = (n: number) => ({
    buckets: Array.from({ length: n + 1 }, (_, i) => ({ head: `b${i}` }) as PreparedSeries),
    sum: { head: 'sum' } as PreparedSeries,
    count: { head: 'count' } as PreparedSeries,
  });
  const drained = (h: AggregatedHistogram) => {
    const out: [string, number][] = [];
    h.drain((series, value) => out.push([series.head, value]));
    return out;
  };

  it('counts each value in the first bucket whose bound is ≥ it, cumulative on drain, then starts afresh', () => {
    const h = new AggregatedHistogram([1, 5, 10], wire(3));
    for (const v of [0, 1, 1.5, 5, 7, 10, 11, 1e9]) expect(h.observe(v)).toBe(true);
    expect(drained(h)).toEqual([
      ['b0', 2], // 0, 1 (le is inclusive)
      ['b1', 4], // + 1.5, 5
      ['b2', 6], // + 7, 10
      ['b3', 8], // +Inf: + 11, 1e9
      ['sum', 0 + 1 + 1.5 + 5 + 7 + 10 + 11 + 1e9],
      ['count', 8],
    ]);
    expect(drained(h)).toEqual([]); // nothing observed since
    h.observe(7);
    expect(drained(h)).toEqual([
      ['b2', 1],
      ['b3', 1],
      ['sum', 7],
      ['count', 1],
    ]); // only the buckets that grew
  });

  it('sends every bucket, zeros included, on its first drain only', () => {
    const h = new AggregatedHistogram([1, 5], wire(2));
    h.observe(3);
    expect(drained(h)).toEqual([
      ['b0', 0],
      ['b1', 1],
      ['b2', 1],
      ['sum', 3],
      ['count', 1],
    ]);
  });

  it('refuses values that are not finite numbers ≥ 0', () => {
    const h = new AggregatedHistogram([1], wire(1));
    for (const v of [-1, NaN, Infinity, -Infinity, '3', undefined, null])
      expect(h.observe(v as number), String(v)).toBe(false);
    expect(drained(h)).toEqual([]);
  });

  it('checks bounds', () => {
    expect(invalidBounds([0.5, 1, 2])).toBeNull();
    expect(invalidBounds([])).toMatch(/non-empty/);
    expect(invalidBounds([1, 1])).toMatch(/increasing/);
    expect(invalidBounds([1, NaN])).toMatch(/finite/);
    expect(invalidBounds([1, Infinity])).toMatch(/finite/);
  });
});

describe('metric.aggregatedHistogram', () => {
  let clients: VigilClient[] = [];
  afterEach(async () => {
    for (const c of clients) await c.close({ timeoutMs: 100 });
    clients = [];
  });

  function setup(opts: Partial<ClientOptions> = {}) {
    const transport = new MemoryTransport();
    const errors: VigilClientError[] = [];
    const vigil = createClient({
      source: 'svc',
      transport,
      flushIntervalMs: 60_000,
      onError: (e) => errors.push(e),
      ...opts,
    });
    clients.push(vigil);
    const metrics = () => transport.metrics.map(({ id: _id, timestamp: _ts, ...m }) => m);
    return { vigil, transport, errors, metrics };
  }

  it('sends the Prometheus histogram convention as counter samples, with default labels and the le label', async () => {
    const { vigil, errors, metrics } = setup({ defaultLabels: { env: 'prod' } });
    const h = vigil.metric.aggregatedHistogram('payment_duration_ms', { provider: 'stripe' }, [100, 500]);
    for (const v of [80, 120, 700]) h.record(v);
    await vigil.flush();
    const labels = { env: 'prod', provider: 'stripe' };
    expect(metrics()).toEqual([
      { name: 'payment_duration_ms_bucket', metric_type: 'counter', value: 1, labels: { ...labels, le: '100' } },
      { name: 'payment_duration_ms_bucket', metric_type: 'counter', value: 2, labels: { ...labels, le: '500' } },
      { name: 'payment_duration_ms_bucket', metric_type: 'counter', value: 3, labels: { ...labels, le: '+Inf' } },
      { name: 'payment_duration_ms_sum', metric_type: 'counter', value: 900, labels },
      { name: 'payment_duration_ms_count', metric_type: 'counter', value: 3, labels },
    ]);
    expect(errors).toEqual([]);
  });

  it('shares one series between calls with the same name, labels and buckets', async () => {
    const { vigil, metrics } = setup();
    vigil.metric.aggregatedHistogram('h', { a: '1' }, [1]).record(0.5);
    vigil.metric.aggregatedHistogram('h', { a: '1' }, [1]).record(2);
    await vigil.flush();
    expect(metrics().filter((m) => m.name === 'h_count')).toEqual([
      { name: 'h_count', metric_type: 'counter', value: 2, labels: { a: '1' } },
    ]);
  });

  it('counts invalid series and observations, never throws', async () => {
    const { vigil, errors, metrics } = setup();
    expect(() => {
      vigil.metric.aggregatedHistogram('bad-name', {}, [1]).record(1);
      vigil.metric.aggregatedHistogram('h', { le: '5' }, [1]).record(1);
      vigil.metric.aggregatedHistogram('h', {}, [2, 1]).record(1);
      const ok = vigil.metric.aggregatedHistogram('h', {}, [1]);
      ok.record(-1);
      ok.record(Number.NaN);
      ok.record(undefined);
    }).not.toThrow();
    await vigil.flush();
    expect(metrics()).toEqual([]);
    expect(vigil.stats().metrics.invalid).toBe(6);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^invalid histogram bad-name, not sent: name:/),
      'invalid histogram h, not sent: labels: le is reserved for the bucket bound',
      'invalid histogram h, not sent: buckets must be strictly increasing',
      'invalid observation of h: must be a finite number ≥ 0, got -1',
      'invalid observation of h: must be a finite number ≥ 0, got NaN',
      'invalid observation of h: must be a finite number ≥ 0, got undefined',
    ]);
  });

  it('bounds the number of series (maxCounterSeries), counting what it refuses', async () => {
    const { vigil, metrics } = setup({ maxCounterSeries: 2 });
    for (const id of ['1', '2', '3']) vigil.metric.aggregatedHistogram('h', { id }, [1]).record(1);
    await vigil.flush();
    expect(new Set(metrics().map((m) => (m.labels as { id: string }).id))).toEqual(new Set(['1', '2']));
    expect(vigil.stats().metrics.dropped).toBe(1);
  });

  it('sends every histogramIntervalMs, while counters go every flushIntervalMs', async () => {
    const { vigil, metrics } = setup({ flushIntervalMs: 20, histogramIntervalMs: 400 });
    const started = Date.now();
    vigil.metric.aggregatedHistogram('h', {}, [1]).record(1);
    vigil.metric.counter('c_total');
    await sleep(150); // deliberately several flushes before the histogram's interval: counters only
    expect(metrics().map((m) => m.name)).toEqual(['c_total']);
    await pollUntil('the histogram', () => metrics().some((m) => m.name === 'h_count'), 3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(metrics().map((m) => m.name)).toEqual(['c_total', 'h_bucket', 'h_bucket', 'h_sum', 'h_count']);
  });

  it('drains on close(); records after close() are counted as dropped', async () => {
    const { vigil, metrics } = setup();
    const h = vigil.metric.aggregatedHistogram('h', {}, [1]);
    h.record(1);
    await vigil.close();
    h.record(1);
    expect(metrics().map((m) => [m.name, m.value])).toEqual([
      ['h_bucket', 1],
      ['h_bucket', 1],
      ['h_sum', 1],
      ['h_count', 1],
    ]);
    expect(vigil.stats().metrics.dropped).toBe(1);
  });
});
