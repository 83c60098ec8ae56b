/**
 * A sink per topic: how a record of that topic becomes rows of its table (one per item: a record carries one item
 * or a bundle), and dead letters for what cannot be stored. Everything else (batching, COPY, rollups, offsets,
 * dead letters, retries) is shared by all sinks.
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import type { DeadLetterItem, DeadLetterReason } from '../../shared/kafka/dlq.ts';
import { estimatedItems, itemAlone, itemsOf, type ItemCodecs } from '../../shared/kafka/record-items.ts';
import { HEADER_SCHEMA } from '../../shared/kafka/topics.ts';
import type { Config } from '../../shared/config.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import { createRedactor } from '../../shared/redact.ts';
import { createJsonTextScan } from '../../shared/schemas/json-text.ts';
import { seriesFingerprint } from '../../shared/schemas/metric.ts';
import { EVENT_COLUMNS, METRIC_COLUMNS, formatEventRow, formatMetricRow } from './copy-format.ts';
import { decodeEvent, decodeMetric, type Decoded } from './decode.ts';
import type { RollupFields } from './rollups.ts';
import type { SeriesRef } from './series-limit.ts';

export interface SinkRow {
  /** One line of COPY text. */
  text: string;
  /** The row's id: with timestamp, its primary key. */
  id: string;
  timestamp: number;
  rollup: RollupFields;
  /** The id when the producer chose it (claimed in ingest_ids: services/writer/given-ids.ts), else null. */
  givenId: string | null;
  /** Position of the item in its record's bundle; -1 when the record is one item. */
  index: number;
  /** The item as decoded, for a dead letter of it alone. */
  item: unknown;
  /** Metrics under METRICS_MAX_SERIES_PER_NAME: the sample's series. */
  series?: SeriesRef;
}

export interface SinkLetter {
  reason: DeadLetterReason;
  detail: string;
  /** The item of a bundle that failed, on its own; null: the whole record goes to the DLQ. */
  item: DeadLetterItem | null;
}

export interface SinkRecord {
  rows: SinkRow[];
  dead: SinkLetter[];
}

export interface Sink {
  topic: string;
  table: 'events' | 'metrics';
  columns: string;
  /** About how many rows a record will give, before decoding it (batches are sized in rows). */
  estimatedItems(record: ConsumedRecord): number;
  decode(record: ConsumedRecord): SinkRecord;
  /** A stored row's item alone, as a dead letter (PostgreSQL refused it). */
  alone(row: SinkRow, record: ConsumedRecord): DeadLetterItem | null;
}

export function createSinks(config: Config, codecs: ReadonlyMap<string, Codec>): Sink[] {
  // Exactly the limits, depth bound and redaction the gateway applies to HTTP input (config.ingest).
  const { futureGraceSeconds, maxDepth } = config.ingest;
  const redact = createRedactor(config.ingest.redactKeys);
  const { redactSecrets } = config.ingest;
  const eventContext = {
    limits: config.ingest.eventLimits,
    retentionDays: config.storage.eventRetentionDays,
    futureGraceSeconds,
    maxDepth,
    redact,
    redactSecrets,
    scan: createJsonTextScan(redact, maxDepth),
  };
  const metricContext = {
    limits: config.ingest.metricLimits,
    retentionDays: config.storage.metricRetentionDays,
    futureGraceSeconds,
    redact,
  };
  const limitsSeries = config.storage.maxSeriesPerName > 0;
  return [
    createSink(
      config.kafka.topics.events,
      'events',
      EVENT_COLUMNS,
      { item: codecs.get('Event')!, bundle: codecs.get('EventBundle')! },
      (item, encoding, record) => decodeEvent(item, encoding, record, eventContext),
      (e, index, item) => ({
        text: formatEventRow(e),
        id: e.id,
        timestamp: e.timestamp,
        rollup: { kind: 'event', eventType: e.event_type, source: e.source, level: e.level ?? '' },
        givenId: e.id_given ? e.id : null,
        index,
        item,
      }),
    ),
    createSink(
      config.kafka.topics.metrics,
      'metrics',
      METRIC_COLUMNS,
      { item: codecs.get('Metric')!, bundle: codecs.get('MetricBundle')! },
      (item, encoding, record) => decodeMetric(item, encoding, record, metricContext),
      (m, index, item) => ({
        text: formatMetricRow(m),
        id: m.id,
        timestamp: m.timestamp,
        rollup: { kind: 'metric', eventType: m.metric_type, source: m.name, level: '' },
        givenId: m.id_given ? m.id : null,
        index,
        item,
        ...(limitsSeries ? { series: { name: m.name, fingerprint: seriesFingerprint(m.name, m.labels) } } : {}),
      }),
    ),
  ];
}

function createSink<T>(
  topic: string,
  table: Sink['table'],
  columns: string,
  codecs: ItemCodecs,
  decodeItem: (item: unknown, encoding: 'avro' | 'json', record: ConsumedRecord) => Decoded<T>,
  toRow: (value: T, index: number, item: unknown) => SinkRow,
): Sink {
  const encodingOf = (record: ConsumedRecord) => (record.headers[HEADER_SCHEMA] === undefined ? 'json' : 'avro');
  return {
    topic,
    table,
    columns,
    estimatedItems: (record) => estimatedItems(record, codecs.bundle),
    decode(record) {
      const unpacked = itemsOf(record, codecs);
      if (!unpacked.ok) return { rows: [], dead: [{ reason: unpacked.reason, detail: unpacked.detail, item: null }] };
      const { items, encoding, bundle } = unpacked;
      const rows: SinkRow[] = [];
      const dead: SinkLetter[] = [];
      for (let index = 0; index < items.length; index++) {
        const decoded = decodeItem(items[index], encoding, record);
        if (decoded.ok) rows.push(toRow(decoded.value, bundle ? index : -1, items[index]));
        else
          dead.push({
            reason: decoded.reason,
            detail: decoded.detail,
            item: bundle ? { index, ...itemAlone(items[index], encoding, codecs.item) } : null,
          });
      }
      return { rows, dead };
    },
    alone: (row, record) =>
      row.index < 0 ? null : { index: row.index, ...itemAlone(row.item, encodingOf(record), codecs.item) },
  };
}
