/**
 * A sink per topic: how a record of that topic becomes rows of its table (one per item: a record carries one item
 * or a bundle), and dead letters for what cannot be stored. Everything else (batching, COPY, rollups, offsets,
 * dead letters, retries) is shared by all sinks.
 *
 * A row is written into its batch's CopyRows as soon as its item is validated; what the batch keeps of it until
 * COMMIT is one small object (SinkRow). What the rare paths need beyond that is recovered from the record or the
 * row's bytes: the item alone for a dead letter (the record decoded again), the id of a duplicate (rowId).
 *
 * A record the gateway sealed (KAFKA_SEAL_SECRET, shared/kafka/seal.ts) holds items the gateway validated, redacted
 * and encoded under the same rules: its decoded Avro items are the records to store, so they are written as they
 * are, without the validation, redaction and tags/payload scan every other record's items pass (about half of the
 * writer's work per row). Only the created_by rule (creatorOf) is applied to them as to every Avro item. With a
 * secret set, the created_by rule takes an Avro item's created_by only from a sealed record (the alerter seals its
 * records too, and they are validated in full).
 */
import type { ConsumedRecord } from '../../shared/kafka/consumer.ts';
import type { DeadLetterItem, DeadLetterReason } from '../../shared/kafka/dlq.ts';
import { creatorOf, estimatedItems, itemAlone, itemsOf, type ItemCodecs } from '../../shared/kafka/record-items.ts';
import { isSealed, RecordSeal } from '../../shared/kafka/seal.ts';
import { HEADER_PRODUCER, HEADER_SCHEMA, HEADER_SEAL, PRODUCER_GATEWAY } from '../../shared/kafka/topics.ts';
import type { Config } from '../../shared/config.ts';
import type { Codec } from '../../shared/schemas/avro.ts';
import { createRedactor } from '../../shared/redact.ts';
import { createJsonTextScan } from '../../shared/schemas/json-text.ts';
import { seriesFingerprint } from '../../shared/schemas/metric.ts';
import { EVENT_COLUMNS, METRIC_COLUMNS, writeEventRow, writeMetricRow, type CopyRows } from './copy-format.ts';
import type { CopyRow } from './copy-writer.ts';
import { decodeEvent, decodeMetric, type Decoded } from './decode.ts';
import { TRANSCODED_SCHEMA, transcodeEventBundle } from './avro-copy.ts';
import { RollupFieldsCache, type RollupFields } from './rollups.ts';
import type { SeriesRef } from './series-limit.ts';

export interface SinkRow extends CopyRow {
  record: ConsumedRecord;
  /** With the id (rowId), the row's primary key. */
  timestamp: number;
  /** Shared by the rows of one key (RollupFieldsCache). */
  rollup: RollupFields;
  /** The id when the producer chose it (claimed in ingest_ids: services/writer/given-ids.ts), else null. */
  givenId: string | null;
  /** Position of the item in its record's bundle; -1 when the record is one item. */
  index: number;
  /** Metrics under METRICS_MAX_SERIES_PER_NAME: the sample's series. */
  series: SeriesRef | undefined;
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
  /** Decodes `record`, writing the rows of its valid items into `out`. */
  decode(record: ConsumedRecord, out: CopyRows): SinkRecord;
  /** A stored row's item alone, as a dead letter (PostgreSQL refused it). */
  alone(row: SinkRow): DeadLetterItem | null;
}

/** Told of every record that carries a seal: whether it verified (false: stored only after full validation). */
export type SealListener = (verified: boolean) => void;

export function createSinks(
  config: Config,
  codecs: ReadonlyMap<string, Codec>,
  onSeal: SealListener = () => {},
): Sink[] {
  const seal = RecordSeal.of(config.kafka.sealSecret);
  const sealed = (topic: string, record: ConsumedRecord): boolean | null => {
    const verified = isSealed(seal, topic, record);
    if (verified !== null && record.headers[HEADER_SEAL] !== undefined) onSeal(verified);
    return verified;
  };
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
  // One per sink: an event source and a metric name may be the same string.
  const [eventRollups, metricRollups] = [new RollupFieldsCache(), new RollupFieldsCache()];
  return [
    createSink(
      config.kafka.topics.events,
      'events',
      EVENT_COLUMNS,
      { item: codecs.get('Event')!, bundle: codecs.get('EventBundle')! },
      (item, encoding, record, sealed) => decodeEvent(item, encoding, record, eventContext, sealed),
      sealed,
      // A bundle the gateway sealed (decode() only asks for those), in the schema avro-copy.ts follows: its bytes
      // copied into rows.
      (record, out) => {
        if (record.headers[HEADER_SCHEMA] !== TRANSCODED_SCHEMA) return null;
        return transcodeEventBundle(
          record.value!,
          out,
          (start, end, timestamp, eventType, source, level, givenId, index) => ({
            start,
            end,
            record,
            index,
            timestamp,
            rollup: eventRollups.of('event', eventType, source, level ?? ''),
            givenId,
            series: undefined,
          }),
        );
      },
      (e, out, record, index) => {
        const start = out.length;
        writeEventRow(out, e);
        return {
          start,
          end: out.length,
          record,
          index,
          timestamp: e.timestamp,
          rollup: eventRollups.of('event', e.event_type, e.source, e.level ?? ''),
          givenId: e.id_given ? e.id : null,
          series: undefined,
        };
      },
    ),
    createSink(
      config.kafka.topics.metrics,
      'metrics',
      METRIC_COLUMNS,
      { item: codecs.get('Metric')!, bundle: codecs.get('MetricBundle')! },
      (item, encoding, record, sealed) => decodeMetric(item, encoding, record, metricContext, sealed),
      sealed,
      () => null,
      (m, out, record, index) => {
        const start = out.length;
        writeMetricRow(out, m);
        return {
          start,
          end: out.length,
          record,
          index,
          timestamp: m.timestamp,
          rollup: metricRollups.of('metric', m.metric_type, m.name, ''),
          givenId: m.id_given ? m.id : null,
          series: limitsSeries ? { name: m.name, fingerprint: seriesFingerprint(m.name, m.labels) } : undefined,
        };
      },
    ),
  ];
}

function createSink<T>(
  topic: string,
  table: Sink['table'],
  columns: string,
  codecs: ItemCodecs,
  /** `sealed`: whether the record's seal verified (null: no KAFKA_SEAL_SECRET), for the created_by rule. */
  decodeItem: (item: unknown, encoding: 'avro' | 'json', record: ConsumedRecord, sealed: boolean | null) => Decoded<T>,
  /** Whether `record` carries a seal that verifies; null when no secret is set. */
  sealed: (topic: string, record: ConsumedRecord) => boolean | null,
  /** A gateway-sealed record's rows written straight from its bytes, or null: decode it (`out` is truncated back). */
  transcode: (record: ConsumedRecord, out: CopyRows) => SinkRow[] | null,
  /** Writes the row of a valid item into `out`: `index` is the item's position in a bundle, -1 for one item. */
  writeRow: (value: T, out: CopyRows, record: ConsumedRecord, index: number) => SinkRow,
): Sink {
  const encodingOf = (record: ConsumedRecord) => (record.headers[HEADER_SCHEMA] === undefined ? 'json' : 'avro');
  // The items of the record decoded last for a dead letter: the rows of one record come one after another.
  let decodedFor: { record: ConsumedRecord | null; items: unknown[] } = { record: null, items: [] };
  const itemOf = (record: ConsumedRecord, index: number): unknown => {
    if (decodedFor.record !== record) {
      const unpacked = itemsOf(record, codecs);
      // It was decoded once already to make the row: it decodes the same way again.
      decodedFor = { record, items: unpacked.ok ? unpacked.items : [] };
    }
    return decodedFor.items[index];
  };
  return {
    topic,
    table,
    columns,
    estimatedItems: (record) => estimatedItems(record, codecs.bundle),
    decode(record, out) {
      const verified = sealed(topic, record);
      // The gateway's sealed records hold what it validated; the alerter's are sealed only to prove who wrote them.
      const trusted =
        verified === true &&
        record.headers[HEADER_SCHEMA] !== undefined &&
        record.headers[HEADER_PRODUCER] === PRODUCER_GATEWAY;
      if (trusted) {
        const mark = out.length;
        const rows = transcode(record, out);
        if (rows !== null) return { rows, dead: [] };
        out.truncate(mark);
      }
      const unpacked = itemsOf(record, codecs);
      if (!unpacked.ok) return { rows: [], dead: [{ reason: unpacked.reason, detail: unpacked.detail, item: null }] };
      const { items, encoding, bundle } = unpacked;
      const rows: SinkRow[] = [];
      const dead: SinkLetter[] = [];
      for (let index = 0; index < items.length; index++) {
        const decoded = trusted
          ? sealedItem<T>(items[index], record)
          : decodeItem(items[index], encoding, record, verified);
        if (decoded.ok) rows.push(writeRow(decoded.value, out, record, bundle ? index : -1));
        else
          dead.push({
            reason: decoded.reason,
            detail: decoded.detail,
            item: bundle ? { index, ...itemAlone(items[index], encoding, codecs.item) } : null,
          });
      }
      return { rows, dead };
    },
    alone: (row) =>
      row.index < 0
        ? null
        : { index: row.index, ...itemAlone(itemOf(row.record, row.index), encodingOf(row.record), codecs.item) },
  };
}

/**
 * A sealed record's decoded Avro item as the record to store (it has exactly the fields of its schema, which are
 * the stored record's), with the created_by rule every Avro item passes.
 */
function sealedItem<T>(item: unknown, record: ConsumedRecord): Decoded<T> {
  const stored = item as { created_by: unknown };
  const creator = creatorOf(record, 'avro', stored.created_by, true);
  if (!creator.ok) {
    const { field, message } = creator.error;
    return { ok: false, reason: 'invalid', detail: `${field}: ${message}` };
  }
  stored.created_by = creator.value;
  return { ok: true, value: item as T };
}
