/**
 * A producer that coalesces concurrent publish() calls into few sends (one Produce request per broker per send;
 * batching across HTTP requests is where the throughput is) and packs their items into bundles:
 * one Kafka record per group of items (schemas/*-bundle.avsc), where a group is an explicit partition (the gateway:
 * the partition an event's source or a sample's series fingerprint maps to; the record has no key) or a record key
 * (the alerter's events, keyed by their one source).
 * Producing a record cost KafkaJS ~15–19 µs of CPU whatever its size, so a record per item was three quarters of the
 * gateway's work; a bundle spreads that over its items. Records go through RecordProducer (`@platformatic/kafka`,
 * several times less CPU per record than KafkaJS; same partitions, acks=all, whole-send retries). Items of
 * concurrent publishes that share a group ride in the same bundle.
 *
 * Every publish resolves only after the broker acknowledged all its items with acks=all, or rejects with a
 * retriable VigilError when the deadline passes or Kafka refuses: callers never acknowledge what Kafka has not
 * durably accepted.
 *
 * Sends are cut at item granularity to at most maxBatchBytes (estimated record bytes, bundle framing and headers
 * included) and a bundle to at most maxBundleBytes:
 *  - the broker refuses a partition's record batch above message.max.bytes (1 MiB by default), and the client makes
 *    one record batch per partition per send, so a send under the limit can never be refused for size, however many
 *    requests it carries or however large one request is (a 5 MB request becomes several sends);
 *  - a bundle stays well under the limit too, so that a consumer's fetch and a dead letter of a whole bundle do;
 *  - maxBatchMessages bounds the bundles (records) of one send.
 * The parts of one publish are sent one after the other (per-group order within a request holds: its items of one
 * group keep their order inside a bundle, and bundles of one group keep theirs in the send); a publish whose items
 * span several sends resolves when the last of them is acknowledged; when one of them fails, the publish rejects
 * (items of its other sends may already be stored: callers that retry with the same item ids are stored once).
 */
import { VigilError } from '../errors.ts';
import { frameBundle } from '../schemas/avro.ts';
import type { Kafka } from './client.ts';
import { headerMap, RecordProducer, type OutgoingRecord } from './record-producer.ts';
import type { RecordSeal, SealContext } from './seal.ts';
import { HEADER_PRODUCER, HEADER_SCHEMA, HEADER_SEAL } from './topics.ts';

const DEFAULT_MAX_BATCH_BYTES = 921_600; // 900 KiB: under the broker's 1 MiB message.max.bytes
const DEFAULT_MAX_BUNDLE_BYTES = 262_144; // 256 KiB
const DEFAULT_MAX_QUEUED_BYTES = 67_108_864; // 64 MiB
/** Header sets kept encoded; callers use a handful (schema × producer name), the bound only guards against more. */
const MAX_HEADER_SETS = 64;

export interface BundleItem {
  /** A string: the key of the bundle record that carries the item; a number: its explicit partition (no key). */
  into: string | number;
  /** The item's own Avro encoding (the bundle is the items' bytes framed as an Avro array). */
  value: Buffer;
}

interface Pending {
  topic: string;
  /** Headers of the bundles: the bundle schema and the producer. Publishes share bundles only with equal headers. */
  headers: Map<Buffer, Buffer>;
  headersKey: string;
  headersBytes: number;
  /** What the bundles' seals are bound to; null: not sealed. */
  seal: SealContext | null;
  items: BundleItem[];
  bytes: number;
  /** Index of the first item not yet taken into a send. */
  next: number;
  /** Sends carrying some of this publish's items that have not completed. */
  sending: number;
  resolve: () => void;
  reject: (error: Error) => void;
  settled: boolean;
}

interface Slice {
  pending: Pending;
  from: number;
  to: number;
}

interface Bundle {
  topic: string;
  into: string | number;
  headers: Map<Buffer, Buffer>;
  seal: SealContext | null;
  parts: Buffer[];
  bytes: number;
}

export interface BatchingProducerOptions {
  /** How long publish() waits for acks before rejecting with VIGIL_ERR_KAFKA_UNAVAILABLE. */
  timeoutMs: number;
  /** Concurrent sends; pending items wait for a free slot and ride together. */
  maxInFlightSends?: number;
  /** Upper bound of one send in estimated record bytes: keep it under the broker's message.max.bytes. */
  maxBatchBytes?: number;
  /** Upper bound of one bundle's items in bytes. */
  maxBundleBytes?: number;
  /** Upper bound of one send in records (bundles). */
  maxBatchMessages?: number;
  /** Bytes waiting for a slot at most; beyond it publish() rejects at once. */
  maxQueuedBytes?: number;
  /** Told the item count of every record (bundle) Kafka acknowledged: how well items are bundled. */
  onRecord?: (topic: string, items: number) => void;
  /**
   * Seals every bundle (header vigil-seal, shared/kafka/seal.ts): for a producer whose items were validated, so
   * that the writer stores them without validating them again. Null: no seal.
   */
  seal?: RecordSeal | null;
}

// Per-record framing in a v2 record batch (length, attributes, deltas, key/value lengths, header count): at most
// ~25 bytes; the bundle's array framing (item count, end marker) at most 6 more.
const RECORD_OVERHEAD = 31;
const SEAL_HEADER_NAME = Buffer.from(HEADER_SEAL);
/** The seal header's bytes in a record (its name, a base64url value of 38 characters and their framing). */
const SEAL_HEADER_BYTES = 60;
/** Whole-send retries of one send (the publish timeout still bounds what a request waits). */
const SEND_RETRY = { retries: 2, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 };

export class BatchingProducer {
  private readonly producer: RecordProducer;
  private readonly queue: Pending[] = [];
  /** Header sets as the client sends them, by their JSON: publishes reuse a few. */
  private readonly headerMaps = new Map<string, Map<Buffer, Buffer>>();
  private queuedBytes = 0;
  private inFlight = 0;
  private readonly opts: Required<BatchingProducerOptions>;

  constructor(kafka: Kafka, opts: BatchingProducerOptions) {
    this.opts = {
      maxInFlightSends: 4,
      maxBatchBytes: DEFAULT_MAX_BATCH_BYTES,
      maxBundleBytes: DEFAULT_MAX_BUNDLE_BYTES,
      maxBatchMessages: 2000,
      maxQueuedBytes: DEFAULT_MAX_QUEUED_BYTES,
      onRecord: () => {},
      seal: null,
      ...opts,
    };
    this.producer = new RecordProducer(kafka.settings);
  }

  get queuedByteCount(): number {
    return this.queuedBytes;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  /** The topic's partition count as this producer's sends see it (a TopicPartitioner's source). */
  partitionCount(topic: string): Promise<number> {
    return this.producer.partitionCount(topic);
  }

  /** Publishes items in bundles with `headers` (which must name the bundle schema of the items' encoding). */
  publish(topic: string, headers: Record<string, string>, items: BundleItem[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    let bytes = 0;
    for (const item of items) bytes += item.value.length;
    if (this.queuedBytes + bytes > this.opts.maxQueuedBytes) {
      return Promise.reject(unavailable('the gateway has too much waiting for Kafka'));
    }
    let headersBytes = this.opts.seal === null ? 0 : SEAL_HEADER_BYTES;
    for (const name in headers) headersBytes += 10 + Buffer.byteLength(name) + Buffer.byteLength(headers[name]);
    const seal =
      this.opts.seal === null
        ? null
        : { topic, schema: headers[HEADER_SCHEMA] ?? '', producer: headers[HEADER_PRODUCER] ?? '' };
    const headersKey = JSON.stringify(headers);
    let map = this.headerMaps.get(headersKey);
    if (map === undefined) {
      if (this.headerMaps.size >= MAX_HEADER_SETS) this.headerMaps.clear();
      this.headerMaps.set(headersKey, (map = headerMap(headers)));
    }
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        topic,
        headers: map,
        headersKey,
        headersBytes,
        seal,
        items,
        bytes,
        next: 0,
        sending: 0,
        resolve,
        reject,
        settled: false,
      };
      const timer = setTimeout(() => {
        settle(pending, unavailable(`Kafka did not acknowledge within ${this.opts.timeoutMs} ms`));
      }, this.opts.timeoutMs);
      pending.resolve = () => (clearTimeout(timer), resolve());
      pending.reject = (error) => (clearTimeout(timer), reject(error));
      this.queue.push(pending);
      this.queuedBytes += bytes;
      this.pump();
    });
  }

  /** Waits for queued and in-flight sends, then disconnects. */
  async close(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    await this.producer.close();
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlightSends && this.queue.length > 0) {
      const { slices, bundles } = this.takeSend();
      if (slices.length === 0) return;
      this.inFlight++;
      this.send(slices, bundles).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  /**
   * The next send: whole publishes and parts of them, in arrival order, packed into bundles by (topic, headers,
   * group), within the byte and record bounds. Bundles are listed in the order they were opened, so the bundles
   * of one group (one partition) keep the items' order.
   */
  private takeSend(): { slices: Slice[]; bundles: Bundle[] } {
    const slices: Slice[] = [];
    const bundles: Bundle[] = [];
    // Open bundles by (topic, headers), then by group: Map keeps 3 (a partition) and '3' (a key) apart.
    const open = new Map<string, Map<string | number, Bundle>>();
    const { maxBatchBytes, maxBundleBytes, maxBatchMessages } = this.opts;
    let bytes = 0;
    let full = false;
    while (this.queue.length > 0 && !full) {
      const pending = this.queue[0];
      // A publish that already timed out was answered 503: do not send what the client was told failed.
      if (pending.settled) {
        this.dequeue(pending);
        continue;
      }
      // The rest of a publish waits until its previous part is acknowledged: concurrent sends may reach
      // the broker in either order, and one request's records must keep theirs.
      if (pending.sending > 0) break;
      const stream = `${pending.topic}\u0000${pending.headersKey}`;
      let groups = open.get(stream);
      if (groups === undefined) open.set(stream, (groups = new Map()));
      const from = pending.next;
      let to = from;
      for (; to < pending.items.length; to++) {
        const item = pending.items[to];
        let bundle = groups.get(item.into);
        const size = item.value.length;
        const fits = bundle !== undefined && bundle.bytes + size <= maxBundleBytes;
        const cost = fits
          ? size
          : size +
            RECORD_OVERHEAD +
            pending.headersBytes +
            (typeof item.into === 'string' ? Buffer.byteLength(item.into) : 0);
        if (bytes > 0 && (bytes + cost > maxBatchBytes || (!fits && bundles.length >= maxBatchMessages))) {
          full = true;
          break;
        }
        if (!fits) {
          bundle = {
            topic: pending.topic,
            into: item.into,
            headers: pending.headers,
            seal: pending.seal,
            parts: [],
            bytes: 0,
          };
          groups.set(item.into, bundle);
          bundles.push(bundle);
        }
        bundle!.parts.push(item.value);
        bundle!.bytes += size;
        bytes += cost;
      }
      if (to > from) {
        slices.push({ pending, from, to });
        pending.next = to;
        pending.sending++;
      }
      if (to < pending.items.length) break; // the send is full; the rest of this publish rides the next one
      this.dequeue(pending);
    }
    return { slices, bundles };
  }

  /** The bundle's headers, with its seal when it has one. */
  private headersOf(bundle: Bundle, value: Buffer): Map<Buffer, Buffer> {
    if (bundle.seal === null) return bundle.headers;
    const headers = new Map(bundle.headers);
    headers.set(SEAL_HEADER_NAME, Buffer.from(this.opts.seal!.sign(bundle.seal, value)));
    return headers;
  }

  private dequeue(pending: Pending): void {
    this.queue.shift();
    this.queuedBytes -= pending.bytes;
  }

  private async send(slices: Slice[], bundles: Bundle[]): Promise<void> {
    const records: OutgoingRecord[] = bundles.map((bundle) => {
      const { topic, into, parts, bytes } = bundle;
      const value = frameBundle(parts, bytes);
      const headers = this.headersOf(bundle, value);
      return typeof into === 'string'
        ? { topic, key: Buffer.from(into), value, headers }
        : { topic, partition: into, value, headers };
    });
    let failure: Error | undefined;
    try {
      await this.producer.send(records, 'none', SEND_RETRY);
    } catch (error) {
      failure = unavailable(`Kafka refused the write: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!failure) for (const bundle of bundles) this.opts.onRecord(bundle.topic, bundle.parts.length);
    for (const { pending } of slices) {
      pending.sending--;
      if (failure) settle(pending, failure);
      else if (pending.sending === 0 && pending.next === pending.items.length) settle(pending);
    }
  }
}

function settle(pending: Pending, error?: Error): void {
  if (pending.settled) return;
  pending.settled = true;
  if (error) pending.reject(error);
  else pending.resolve();
}

function unavailable(message: string): VigilError {
  return new VigilError(
    'VIGIL_ERR_KAFKA_UNAVAILABLE',
    `${message}; retry later (records that carry the same ids are stored once)`,
    undefined,
    2,
  );
}
