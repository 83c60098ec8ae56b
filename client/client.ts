/**
 * The vigil client: what an instrumented service holds. Events and metric samples are validated and serialised on
 * the caller's turn, queued in memory (bounded), and delivered in batches by size and by interval to the gateway
 * (HTTP + gzip) or straight to Kafka. No public method throws or waits on the network: problems are counted in
 * stats() and reported to onError. close() (or the process's natural end) flushes what is queued.
 */
import { createRedactor } from '../shared/redact.ts';
import type { MetricType } from '../shared/schemas/metric.ts';
import { withTimeout } from '../shared/wait.ts';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import { counterKey, CounterAggregator } from './counters.ts';
import {
  Encoder,
  type Encoded,
  type EventInput,
  type MetricInput,
  type Prepared,
  type PreparedSeries,
} from './encode.ts';
import { VigilClientError, throttledStderrReporter, type ErrorReporter } from './errors.ts';
import { EventLogger, type Tags } from './event-logger.ts';
import {
  AggregatedHistogram,
  DEFAULT_DURATION_BUCKETS_MS,
  invalidBounds,
  leLabel,
  type HistogramWire,
} from './histograms.ts';
import { HttpTransport, type TokenSource } from './http-transport.ts';
import type { KafkaTransportOptions } from './kafka-transport.ts';
import { DeliveryStream, type StreamStats } from './stream.ts';
import type { SendOutcome, StreamKind, Transport } from './transport.ts';

import { BYTES_PER_MIB } from '../shared/units.ts';

const DEFAULT_MAX_QUEUE_ITEMS = 10_000;
const DEFAULT_MAX_QUEUE_BYTES = 16_777_216; // 16 MiB
const DEFAULT_MAX_BATCH_ITEMS = 1000;
const DEFAULT_MAX_COUNTER_SERIES = 10_000;
const DEFAULT_HISTOGRAM_INTERVAL_MS = 10_000;
const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const DEFAULT_GATEWAY_TIMEOUT_MS = 10_000;
/** close() keeps the process alive this much past its deadline, for the last answer to arrive. */
const KEEP_ALIVE_SLACK_MS = 1000;

export interface ClientOptions {
  /** The service's name, the events' `source` (e.g. `auth-service`, `payment-service`). */
  source: string;
  /** Deliver to a gateway over HTTP. */
  gateway?: {
    url: string;
    token: TokenSource;
    /** Per-request deadline. Default 10 s. */
    timeoutMs?: number;
    /** gzip request bodies. Default true. */
    compress?: boolean;
    /** Compress and send on a worker thread, off the service's event loop. Default true. */
    offThread?: boolean;
  };
  /** Deliver straight to Kafka (JSON records, per the README's Kafka contract). */
  kafka?: KafkaTransportOptions;
  /** Any other transport (tests, custom sinks). Exactly one of gateway, kafka, transport. */
  transport?: Transport;
  /** Items waiting per stream (events, metrics) at most; beyond, the oldest are evicted and counted. Default 10,000. */
  maxQueueItems?: number;
  /** Serialised bytes waiting per stream at most. Default 16 MiB. */
  maxQueueBytes?: number;
  /** Items per request at most. Default 1000. */
  maxBatchItems?: number;
  /** Uncompressed bytes per request at most. Default 1 MiB. */
  maxBatchBytes?: number;
  /** How often queued items (and summed counters) are sent when no batch fills up. Default 1000 ms. */
  flushIntervalMs?: number;
  backoff?: Partial<BackoffOptions>;
  /**
   * Keys whose values are replaced by "[REDACTED]" in tags, payload and labels; false to disable. Default: the
   * gateway's list.
   */
  redactKeys?: readonly string[] | false;
  /** Labels added to every metric sample (the sample's own labels win). */
  defaultLabels?: Record<string, string>;
  /** Distinct counter series per flush interval at most, and aggregated histogram series in all. Default 10,000. */
  maxCounterSeries?: number;
  /**
   * How often aggregated histograms (metric.aggregatedHistogram, the Fastify plugin's durations) are sent. Default
   * 10,000 ms.
   */
  histogramIntervalMs?: number;
  /** Told about every problem (invalid items, refusals, retries, drops). Default: a throttled line on stderr. */
  onError?: ErrorReporter;
  /** Flush when the process is about to exit naturally ('beforeExit'). Default true. */
  flushOnExit?: boolean;
}

export interface ClientStats {
  events: StreamStats;
  metrics: StreamStats;
}

export interface MetricHelpers {
  /** Adds `value` (default 1, not negative) to a counter; increments are summed per series per flush interval. */
  counter(name: string, value?: number, labels?: Record<string, string>): void;
  gauge(name: string, value: number, labels?: Record<string, string>): void;
  /** One observation (the query service and the exposition build buckets and quantiles from observations). */
  histogram(name: string, value: number, labels?: Record<string, string>): void;
  /**
   * A series bound once to its name, type and labels (validated now), for hot paths: record(value) then skips all
   * label handling. Like prom-client's `histogram.labels(…)`.
   */
  series(type: MetricType, name: string, labels?: Record<string, string>): MetricSeries;
  /**
   * A histogram aggregated in the process (client/histograms.ts), like a Prometheus client library's: record(value)
   * (finite, not negative) counts the observation into its bucket, and every histogramIntervalMs the increments go
   * out as counters `<name>_bucket{le}`, `<name>_sum`, `<name>_count`. A few samples per interval whatever the rate,
   * but no exact percentiles in vigil's query API (those need metric.histogram's one sample per observation).
   * Calls with the same name, labels and buckets share one series. Default buckets: DEFAULT_DURATION_BUCKETS_MS.
   */
  aggregatedHistogram(name: string, labels?: Record<string, string>, buckets?: readonly number[]): MetricSeries;
}

export interface MetricSeries {
  /** A counter increment, a gauge value or a histogram observation. Never throws. */
  record(value?: number): void;
}

const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

export class VigilClient {
  readonly source: string;
  /** Events bound to the client's source and no request id. */
  readonly log: EventLogger;
  readonly metric: MetricHelpers;
  private readonly streams: Record<StreamKind, DeliveryStream>;
  private readonly transport: Transport;
  private readonly encoder: Encoder;
  private readonly counters: CounterAggregator;
  private readonly histograms = new Map<string, AggregatedHistogram>();
  private readonly histogramIntervalMs: number;
  private readonly maxSeries: number;
  private histogramsDueAt: number;
  private readonly defaultLabels: Record<string, string> | null;
  private readonly report: ErrorReporter;
  private readonly timer: NodeJS.Timeout;
  private readonly onBeforeExit: (() => void) | null;
  private closing: Promise<ClientStats> | null = null;

  constructor(opts: ClientOptions) {
    const transports = [opts.gateway, opts.kafka, opts.transport].filter((t) => t !== undefined).length;
    if (transports !== 1) throw new TypeError('vigil client: give exactly one of `gateway`, `kafka` or `transport`');
    if (typeof opts.source !== 'string' || opts.source.trim() === '')
      throw new TypeError('vigil client: `source` must be a non-empty string');
    this.source = opts.source;
    this.report = safeReporter(opts.onError ?? throttledStderrReporter());
    this.transport =
      opts.transport ?? (opts.kafka ? lazyKafkaTransport(opts.kafka, opts.source) : httpTransport(opts.gateway!));
    this.encoder = new Encoder(
      opts.redactKeys === false ? null : createRedactor(opts.redactKeys),
      opts.kafka !== undefined,
    );
    const streamOptions = {
      maxQueueItems: opts.maxQueueItems ?? DEFAULT_MAX_QUEUE_ITEMS,
      maxQueueBytes: opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
      maxBatchItems: opts.maxBatchItems ?? DEFAULT_MAX_BATCH_ITEMS,
      maxBatchBytes: opts.maxBatchBytes ?? BYTES_PER_MIB,
      backoff: { ...DEFAULT_BACKOFF, ...opts.backoff },
    };
    this.streams = {
      events: new DeliveryStream('events', this.transport, streamOptions, this.report),
      metrics: new DeliveryStream('metrics', this.transport, streamOptions, this.report),
    };
    this.maxSeries = opts.maxCounterSeries ?? DEFAULT_MAX_COUNTER_SERIES;
    this.counters = new CounterAggregator(this.maxSeries);
    this.histogramIntervalMs = opts.histogramIntervalMs ?? DEFAULT_HISTOGRAM_INTERVAL_MS;
    this.histogramsDueAt = Date.now() + this.histogramIntervalMs;
    this.defaultLabels =
      opts.defaultLabels && Object.keys(opts.defaultLabels).length > 0 ? { ...opts.defaultLabels } : null;
    this.log = new EventLogger(this, this.source);
    this.metric = {
      counter: (name, value = 1, labels = {}) => this.guard(() => this.count(name, value, labels)),
      gauge: (name, value, labels = {}) => this.guard(() => this.sample({ name, metric_type: 'gauge', value, labels })),
      histogram: (name, value, labels = {}) =>
        this.guard(() => this.sample({ name, metric_type: 'histogram', value, labels })),
      series: (type, name, labels = {}) => this.bind(type, name, labels),
      aggregatedHistogram: (name, labels = {}, buckets = DEFAULT_DURATION_BUCKETS_MS) =>
        this.aggregated(name, labels, buckets),
    };
    this.timer = setInterval(() => this.guard(() => this.tick()), opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    this.timer.unref();
    this.onBeforeExit = opts.flushOnExit === false ? null : () => void this.close();
    if (this.onBeforeExit) process.once('beforeExit', this.onBeforeExit);
  }

  /** Queues one event (the contract's shape; event_type defaults to log, source to the client's). */
  event(input: EventInput): void {
    this.guard(() => {
      if (this.closing) return this.streams.events.discard('VIGIL_CLIENT_DROPPED', 1, 'event after close()');
      const encoded = this.encoder.event(input, this.source);
      if (encoded.ok) this.streams.events.push(encoded.item);
      else this.streams.events.discard('VIGIL_CLIENT_INVALID', 1, `invalid event, not sent: ${encoded.reason}`);
    });
  }

  /** An EventLogger bound to a request id (and optionally fixed tags), as EventLogger(request_id, source). */
  eventLogger(opts: { requestId?: string | null; tags?: Tags } = {}): EventLogger {
    return this.log.child(opts);
  }

  /**
   * Sends everything queued now (counters included); resolves when it is delivered, or after timeoutMs if given
   * (delivery goes on in the background: while the gateway is down, an unbounded flush waits for it). Never rejects.
   */
  async flush(opts: { timeoutMs?: number } = {}): Promise<void> {
    try {
      this.drainAggregates(true);
      const delivered = Promise.all([this.streams.events.flush(), this.streams.metrics.flush()]);
      if (opts.timeoutMs === undefined) await delivered;
      else await withTimeout(delivered, opts.timeoutMs, () => undefined);
    } catch (error) {
      this.internal(error);
    }
  }

  /**
   * Stops accepting, sends everything queued, retrying until timeoutMs (default 5 s) has passed; what is still
   * undelivered then is dropped and counted. Resolves with the final stats; never rejects; idempotent.
   */
  close(opts: { timeoutMs?: number } = {}): Promise<ClientStats> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      if (this.onBeforeExit) process.removeListener('beforeExit', this.onBeforeExit);
      const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
      // The sender's timers are unref'd; this one keeps the process alive until the flush is done.
      const keepAlive = setTimeout(() => {}, Math.max(0, deadline - Date.now()) + KEEP_ALIVE_SLACK_MS);
      try {
        this.drainAggregates(true);
        await Promise.all([this.streams.events.drainUntil(deadline), this.streams.metrics.drainUntil(deadline)]);
        await this.transport.close();
      } catch (error) {
        this.internal(error);
      } finally {
        clearTimeout(keepAlive);
      }
      return this.stats();
    })();
    return this.closing;
  }

  private tick(): void {
    this.drainAggregates(Date.now() >= this.histogramsDueAt);
    this.streams.events.requestFlush();
    this.streams.metrics.requestFlush();
  }

  /** Summed counters become samples; so do aggregated histograms when `histograms` (their interval is longer). */
  private drainAggregates(histograms: boolean): void {
    for (const sample of this.counters.drain()) this.sample(sample);
    if (!histograms) return;
    this.histogramsDueAt = Date.now() + this.histogramIntervalMs;
    const emit = (series: PreparedSeries, value: number) =>
      this.enqueueMetric(this.encoder.sample(series, value), 'counter', 'histogram counter');
    for (const histogram of this.histograms.values()) histogram.drain(emit);
  }

  stats(): ClientStats {
    return { events: this.streams.events.stats, metrics: this.streams.metrics.stats };
  }

  private count(
    name: string,
    value: number,
    labels: Record<string, string>,
    bound?: { key: string; labels: Record<string, string> },
  ): void {
    const metrics = this.streams.metrics;
    if (this.closing) return metrics.discard('VIGIL_CLIENT_DROPPED', 1, 'counter increment after close()');
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      return metrics.discard(
        'VIGIL_CLIENT_INVALID',
        1,
        `invalid counter ${name}: the increment must be a finite number ≥ 0, got ${String(value)}`,
      );
    }
    const all = bound?.labels ?? this.withDefaultLabels(labels);
    const key = bound?.key ?? counterKey(name, all);
    const added = this.counters.add(key, value);
    if (added === 'added') return;
    if (added === 'full')
      return metrics.discard(
        'VIGIL_CLIENT_DROPPED',
        1,
        `counter ${name}: more than ${this.counters.size} series in one interval (a label with unbounded values?)`,
      );
    // A new series this interval: validate name and labels with the gateway's rules before keeping it.
    const probe = this.encoder.prepare(name, 'counter', all);
    if (!probe.ok) return metrics.discard('VIGIL_CLIENT_INVALID', 1, `invalid counter, not sent: ${probe.reason}`);
    this.counters.accept(key, name, all, value);
  }

  private sample(input: MetricInput & { metric_type: MetricType }): void {
    const metrics = this.streams.metrics;
    if (this.closing && input.metric_type !== 'counter')
      return metrics.discard('VIGIL_CLIENT_DROPPED', 1, 'metric after close()');
    const encoded = this.encoder.metric(
      input.metric_type === 'counter' ? input : { ...input, labels: this.withDefaultLabels(input.labels ?? {}) },
    );
    this.enqueueMetric(encoded, input.metric_type, input.name);
  }

  private enqueueMetric(encoded: Encoded, type: MetricType, name: string): void {
    if (encoded.ok) this.streams.metrics.push(encoded.item);
    else
      this.streams.metrics.discard('VIGIL_CLIENT_INVALID', 1, `invalid ${type} ${name}, not sent: ${encoded.reason}`);
  }

  private bind(type: MetricType, name: string, labels: Record<string, string>): MetricSeries {
    try {
      const all = this.withDefaultLabels(labels);
      if (type === 'counter') {
        const bound = { key: counterKey(name, all), labels: { ...all } };
        return { record: (value = 1) => this.guard(() => this.count(name, value, all, bound)) };
      }
      const prepared = this.encoder.prepare(name, type, all);
      return {
        record: (value) =>
          this.guard(() => {
            if (this.closing) return this.streams.metrics.discard('VIGIL_CLIENT_DROPPED', 1, 'metric after close()');
            this.enqueueMetric(prepared.ok ? this.encoder.sample(prepared.series, value) : prepared, type, name);
          }),
      };
    } catch (error) {
      this.internal(error);
      return { record: () => {} };
    }
  }

  private aggregated(name: string, labels: Record<string, string>, buckets: readonly number[]): MetricSeries {
    try {
      const all = this.withDefaultLabels(labels);
      const key = `${counterKey(name, all)}\u0002${buckets.join(',')}`;
      let histogram = this.histograms.get(key);
      if (histogram === undefined) {
        const wire = this.histogramWire(name, all, buckets);
        if (typeof wire === 'string')
          return this.refusing('VIGIL_CLIENT_INVALID', `invalid histogram ${name}, not sent: ${wire}`);
        if (this.histograms.size >= this.maxSeries) {
          return this.refusing(
            'VIGIL_CLIENT_DROPPED',
            `histogram ${name}: more than ${this.maxSeries} aggregated series (a label with unbounded values?)`,
          );
        }
        histogram = new AggregatedHistogram(buckets.slice(), wire);
        this.histograms.set(key, histogram);
      }
      const series = histogram;
      // No guard() closure per call: this runs per request of an instrumented service.
      return {
        record: (value) => {
          try {
            if (this.closing) this.streams.metrics.discard('VIGIL_CLIENT_DROPPED', 1, 'metric after close()');
            else if (!series.observe(value as number))
              this.streams.metrics.discard(
                'VIGIL_CLIENT_INVALID',
                1,
                `invalid observation of ${name}: must be a finite number ≥ 0, got ${String(value)}`,
              );
          } catch (error) {
            this.internal(error);
          }
        },
      };
    } catch (error) {
      this.internal(error);
      return { record: () => {} };
    }
  }

  /** Validates the histogram's wire series (each bucket, _sum, _count) once; a string says why they are invalid. */
  private histogramWire(
    name: string,
    labels: Record<string, string>,
    buckets: readonly number[],
  ): HistogramWire | string {
    const badBounds = invalidBounds(buckets);
    if (badBounds !== null) return badBounds;
    if ('le' in labels) return 'labels: le is reserved for the bucket bound';
    const prepare = (suffix: string, extra: Record<string, string> = {}) =>
      this.encoder.prepare(`${name}${suffix}`, 'counter', { ...labels, ...extra });
    const prepared = [...buckets, Infinity].map((bound) => prepare('_bucket', { le: leLabel(bound) }));
    const sum = prepare('_sum');
    const count = prepare('_count');
    for (const p of [...prepared, sum, count]) if (!p.ok) return p.reason;
    const series = (p: Prepared) => (p as Extract<Prepared, { ok: true }>).series;
    return { buckets: prepared.map(series), sum: series(sum), count: series(count) };
  }

  /** A series that records nothing and counts each attempt as `code`. */
  private refusing(code: 'VIGIL_CLIENT_INVALID' | 'VIGIL_CLIENT_DROPPED', reason: string): MetricSeries {
    return { record: () => this.guard(() => this.streams.metrics.discard(code, 1, reason)) };
  }

  private withDefaultLabels(labels: Record<string, string>): Record<string, string> {
    return this.defaultLabels === null ? labels : { ...this.defaultLabels, ...labels };
  }

  /** The never-throw boundary of every public entry point. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.internal(error);
    }
  }

  private internal(error: unknown): void {
    this.report(
      new VigilClientError(
        'VIGIL_CLIENT_INTERNAL',
        `unexpected: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        null,
        0,
      ),
    );
  }
}

export function createClient(opts: ClientOptions): VigilClient {
  return new VigilClient(opts);
}

function httpTransport(gateway: NonNullable<ClientOptions['gateway']>): Transport {
  return new HttpTransport({
    url: gateway.url,
    token: gateway.token,
    timeoutMs: gateway.timeoutMs ?? DEFAULT_GATEWAY_TIMEOUT_MS,
    compress: gateway.compress ?? true,
    offThread: gateway.offThread ?? true,
  });
}

/** The Kafka client is loaded on first use, so that HTTP-only services never load it. */
function lazyKafkaTransport(opts: KafkaTransportOptions, source: string): Transport {
  let transport: Promise<Transport> | null = null;
  const load = () => (transport ??= import('./kafka-transport.ts').then((m) => new m.KafkaTransport(opts, source)));
  return {
    async send(kind, items, deadline): Promise<SendOutcome> {
      try {
        return await (await load()).send(kind, items, deadline);
      } catch (error) {
        transport = null;
        return {
          type: 'retry',
          retryAfterMs: null,
          reason: `loading the Kafka transport failed: ${(error as Error).message}`,
        };
      }
    },
    async close() {
      if (transport) await (await transport).close();
    },
  };
}

/** A reporter that throws must not reach the caller either. */
function safeReporter(report: ErrorReporter): ErrorReporter {
  return (error) => {
    try {
      report(error);
    } catch {
      // The owner's callback failed; there is nobody left to tell.
    }
  };
}
