/**
 * A sink per topic: how a record of that topic becomes a row of its table. Everything else (batching, COPY,
 * rollups, offsets, dead letters, retries) is shared by all sinks.
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import type { DeadLetterReason } from '../../shared/kafka/dlq.ts';
import type { Config } from '../../shared/config.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import { createRedactor } from '../../shared/redact.ts';
import { EVENT_COLUMNS, METRIC_COLUMNS, formatEventRow, formatMetricRow } from './copy-format.ts';
import { rowKey } from './copy-writer.ts';
import { decodeEvent, decodeMetric } from './decode.ts';
import type { RollupFields } from './rollups.ts';

export interface SinkRow {
  /** One line of COPY text. */
  text: string;
  /** Primary key as `<epoch ms>|<id>`. */
  key: string;
  timestamp: number;
  rollup: RollupFields;
}

export type SinkResult = { ok: true; row: SinkRow } | { ok: false; reason: DeadLetterReason; detail: string };

export interface Sink {
  topic: string;
  table: 'events' | 'metrics';
  columns: string;
  decode(record: ConsumedRecord): SinkResult;
}

export function createSinks(config: Config, codecs: ReadonlyMap<string, Codec>): Sink[] {
  // Exactly the limits, depth bound and redaction the gateway applies to HTTP input (config.ingest).
  const { futureGraceSeconds, maxDepth } = config.ingest;
  const redact = createRedactor(config.ingest.redactKeys);
  const eventContext = { codecs, limits: config.ingest.eventLimits, retentionDays: config.storage.eventRetentionDays, futureGraceSeconds, maxDepth, redact };
  const metricContext = { codecs, limits: config.ingest.metricLimits, retentionDays: config.storage.metricRetentionDays, futureGraceSeconds };
  return [
    {
      topic: config.kafka.topics.events,
      table: 'events',
      columns: EVENT_COLUMNS,
      decode(record) {
        const decoded = decodeEvent(record, eventContext);
        if (!decoded.ok) return decoded;
        const e = decoded.value;
        return {
          ok: true,
          row: {
            text: formatEventRow(e),
            key: rowKey(e.timestamp, e.id),
            timestamp: e.timestamp,
            rollup: { kind: 'event', eventType: e.event_type, source: e.source, level: e.level ?? '' },
          },
        };
      },
    },
    {
      topic: config.kafka.topics.metrics,
      table: 'metrics',
      columns: METRIC_COLUMNS,
      decode(record) {
        const decoded = decodeMetric(record, metricContext);
        if (!decoded.ok) return decoded;
        const m = decoded.value;
        return {
          ok: true,
          row: {
            text: formatMetricRow(m),
            key: rowKey(m.timestamp, m.id),
            timestamp: m.timestamp,
            rollup: { kind: 'metric', eventType: m.metric_type, source: m.name, level: '' },
          },
        };
      },
    },
  ];
}
