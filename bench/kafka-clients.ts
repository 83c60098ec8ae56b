/**
 * KafkaJS (vigil's client before; now only the tests' outside client) against @platformatic/kafka (all of
 * shared/kafka's clients) on the local broker, side by side in one run, each measurement in a fresh child process
 * with vigil's Node flags (so its CPU, RSS and heap are its own), in alternating rounds:
 *   produce   acks=all, no compression; records as the gateway sends them: Avro EventBundle records of
 *             BENCH_BUNDLE events (~250 bytes each) keyed by source (10 sources) with vigil's two headers,
 *             BENCH_SEND records per send (≈ the gateway's 900 KB batch), 4 sends in flight as the gateway's
 *             producer (not idempotent); and idempotent, 1 send in flight (@platformatic/kafka 1.x numbers an
 *             idempotent batch from the sequence acknowledged last, so two sends in flight to one partition get
 *             OUT_OF_ORDER_SEQUENCE_NUMBER from the broker). Both also with one
 *             Avro Event per record (2,000 records per send), the form of direct producers and of the gateway
 *             before bundles. CPU of the process per record and per event, records/s.
 *   consume   a group member reading a pre-filled 6-partition topic from the beginning (up to 4 MB per partition
 *             and fetch, as the writer fetches) until it has every record; each record's value and headers are
 *             touched. Timed from before it joins its group. CPU per record, records/s, peak RSS and heap after.
 * Contenders: kafkajs, kafkajs with its CRC-32C replaced by @node-rs/crc32's (produce only: KafkaJS does not check
 * the CRC of what it fetches), and @platformatic/kafka (which uses @node-rs/crc32 when it is installed); for
 * consuming also `platformatic-fetch`: no group and no stream, the client's `fetch()` sent to each partition's
 * leader at offsets the bench keeps, record batches read as the client parses them — the shape of vigil's
 * BatchConsumer, which keeps its own fetch loop (docs/architecture.md, "Kafka client").
 *
 *   node --import tsx bench/kafka-clients.ts [--records 20000] [--rounds 3]   # single-event records; bundles: a tenth
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { frameBundle, loadCodecs } from '../shared/schemas/avro.ts';
import { contractEvent } from './bench-topics.ts';
import { NODE_FLAGS } from '../bin/node-flags.ts';
import { fmt } from './cannon.ts';
import { median } from './writer-lib.ts';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const PARTITIONS = 6;
const SOURCES = 10;
/** Sends in flight: the gateway's 4; 1 for an idempotent producer (see the header). */
const IN_FLIGHT = 4;
const EVENTS_PER_SEND_UNBUNDLED = 2000;
const BUNDLE = Number(process.env.BENCH_BUNDLE ?? 100);
const BUNDLES_PER_SEND = Number(process.env.BENCH_SEND ?? 36);
const FETCH_BYTES_PER_PARTITION = 4 * 1024 * 1024;
const FETCH_MAX_WAIT_MS = 100;
/** Sends before the clock starts (connection, metadata, JIT). */
const WARMUP_SENDS = 5;
/** Warm-up sends for `records` records: WARMUP_SENDS, at most a quarter of the sends (at least one). */
const warmupSends = (records: number, size: number) =>
  Math.max(1, Math.min(WARMUP_SENDS, Math.floor(records / size / 4)));
const SELF = new URL(import.meta.url).pathname;

type Client = 'kafkajs' | 'kafkajs+native-crc' | 'platformatic' | 'platformatic-fetch';
type Shape = 'bundles' | 'events';
interface Job {
  client: Client;
  phase: 'produce' | 'consume';
  shape: Shape;
  topic: string;
  records: number;
  idempotent: boolean;
}
interface Outcome {
  cpuUs: number;
  seconds: number;
  records: number;
  events: number;
  rssMb: number;
  heapMb: number;
}

/** The records of one shape: Avro bundles of BUNDLE contract events per source, or one Avro event per record. */
function records(shape: Shape, count: number): { key: string; value: Buffer }[] {
  const codecs = loadCodecs();
  const codec = codecs.get('Event')!;
  const encode = (i: number) => {
    const e = contractEvent(i);
    const texts = { tags: JSON.stringify(e.tags), payload: JSON.stringify(e.payload) };
    return codec.encode({ ...e, ...texts, id: crypto.randomUUID(), timestamp: Date.now(), created_by: 'bench' });
  };
  const out: { key: string; value: Buffer }[] = [];
  for (let r = 0; r < count; r++) {
    if (shape === 'events') {
      out.push({ key: `web-server-${r % SOURCES}`, value: encode(r) });
      continue;
    }
    const parts = Array.from({ length: BUNDLE }, (_, i) => encode(r * BUNDLE + i));
    out.push({
      key: `web-server-${r % SOURCES}`,
      value: frameBundle(
        parts,
        parts.reduce((n, p) => n + p.length, 0),
      ),
    });
  }
  return out;
}

function headersOf(shape: Shape): Record<string, string> {
  const codecs = loadCodecs();
  const schema = codecs.get(shape === 'bundles' ? 'EventBundle' : 'Event')!;
  return { 'vigil-schema': schema.schemaId, 'vigil-producer': 'gateway' };
}

const perSend = (shape: Shape) => (shape === 'bundles' ? BUNDLES_PER_SEND : EVENTS_PER_SEND_UNBUNDLED);

/** Runs `count` sends, `parallel` of them at a time. */
async function inFlight(count: number, parallel: number, send: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let i = next++; i < count; i = next++) await send(i);
    }),
  );
}

/** Replaces KafkaJS's table-driven CRC-32C by @node-rs/crc32's before KafkaJS loads its record batch encoder. */
function injectNativeCrc(): void {
  const require = createRequire(import.meta.url);
  const { crc32c } = require('@node-rs/crc32') as { crc32c(input: Buffer, initial?: number): number };
  const path = require.resolve('kafkajs/src/protocol/recordBatch/crc32C/index.js');
  type CachedModule = { exports: unknown; loaded: boolean; filename: string };
  const Module = require('node:module') as { Module: new (id: string) => CachedModule };
  const patched = new Module.Module(path);
  patched.filename = path;
  patched.exports = (buffer: Buffer) => crc32c(buffer) >>> 0;
  patched.loaded = true;
  require.cache[path] = patched as never;
}

type Items = { key: string; value: Buffer }[];

async function kafkajsProduce(job: Job, items: Items, headers: Record<string, string>): Promise<void> {
  if (job.client === 'kafkajs+native-crc') injectNativeCrc();
  const { Kafka, logLevel, CompressionTypes } = await import('kafkajs');
  const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: BROKERS, logLevel: logLevel.ERROR });
  const producer = kafka.producer({ idempotent: job.idempotent, allowAutoTopicCreation: false });
  await producer.connect();
  const size = perSend(job.shape);
  const send = (i: number) =>
    producer.send({
      topic: job.topic,
      acks: -1,
      compression: CompressionTypes.None,
      messages: items.slice(i * size, (i + 1) * size).map((m) => ({ key: m.key, value: m.value, headers })),
    });
  const warmup = warmupSends(items.length, size);
  for (let i = 0; i < warmup; i++) await send(i);
  await measured(job, Math.ceil(items.length / size), (i) => send(i + warmup), warmup * size);
  await producer.disconnect();
}

async function platformaticProduce(job: Job, items: Items, headers: Record<string, string>): Promise<void> {
  const { Producer, ProduceAcks } = await import('@platformatic/kafka');
  const producer = new Producer({
    clientId: 'bench-platformatic',
    bootstrapBrokers: BROKERS,
    idempotent: job.idempotent,
    acks: ProduceAcks.ALL,
    autocreateTopics: false,
  });
  const headerMap = new Map(Object.entries(headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
  const size = perSend(job.shape);
  const send = (i: number) =>
    producer.send({
      messages: items
        .slice(i * size, (i + 1) * size)
        .map((m) => ({ topic: job.topic, key: Buffer.from(m.key), value: m.value, headers: headerMap })),
      // Per send: the constructor's acks applies to idempotent sends only; a plain send defaults to acks=1.
      acks: ProduceAcks.ALL,
    });
  const warmup = warmupSends(items.length, size);
  for (let i = 0; i < warmup; i++) await send(i); // the first also connects and learns the metadata
  await measured(job, Math.ceil(items.length / size), (i) => send(i + warmup), warmup * size);
  await producer.close();
}

let outcome: Outcome | undefined;

/** Times `count` sends (IN_FLIGHT at a time) and records the outcome; `skip` records were sent before. */
async function measured(job: Job, count: number, send: (i: number) => Promise<unknown>, skip = 0): Promise<void> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const size = perSend(job.shape);
  await inFlight(count - Math.ceil(skip / size), job.idempotent ? 1 : IN_FLIGHT, send);
  const used = process.cpuUsage(cpu);
  const sent = job.records - skip;
  outcome = {
    cpuUs: used.user + used.system,
    seconds: (performance.now() - started) / 1000,
    records: sent,
    events: job.shape === 'bundles' ? sent * BUNDLE : sent,
    rssMb: process.memoryUsage().rss / 2 ** 20,
    heapMb: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

/** Consumption: counts records (touching value and headers) until `job.records`; CPU from the first record on. */
class Tally {
  count = 0;
  bytes = 0;
  peakRss = 0;
  private cpu: NodeJS.CpuUsage | null = null;
  private started = 0;
  private readonly done: Promise<void>;
  private finish!: () => void;

  constructor(private readonly job: Job) {
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /** The clock starts before the member joins its group (joining costs little CPU; the wait is in the rate). */
  start(): void {
    this.cpu = process.cpuUsage();
    this.started = performance.now();
  }

  add(value: Buffer | null | undefined, headerCount: number): void {
    this.count++;
    this.bytes += (value?.length ?? 0) + headerCount;
    if ((this.count & 1023) === 0) this.peakRss = Math.max(this.peakRss, process.memoryUsage().rss);
    if (this.count === this.job.records) this.finish();
  }

  async result(): Promise<Outcome> {
    await this.done;
    const used = process.cpuUsage(this.cpu!);
    const memory = process.memoryUsage();
    return {
      cpuUs: used.user + used.system,
      seconds: (performance.now() - this.started) / 1000,
      records: this.count,
      events: this.job.shape === 'bundles' ? this.count * BUNDLE : this.count,
      rssMb: Math.max(this.peakRss, memory.rss) / 2 ** 20,
      heapMb: memory.heapUsed / 2 ** 20,
    };
  }
}

async function kafkajsConsume(job: Job): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: BROKERS, logLevel: logLevel.ERROR });
  const consumer = kafka.consumer({
    groupId: `bench-${crypto.randomUUID()}`,
    maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
    maxBytes: FETCH_BYTES_PER_PARTITION * 4,
  });
  const tally = new Tally(job);
  tally.start();
  await consumer.connect();
  await consumer.subscribe({ topics: [job.topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) tally.add(m.value, Object.keys(m.headers ?? {}).length);
    },
  });
  outcome = await tally.result();
  await consumer.disconnect();
}

/** A `@platformatic/kafka` consumer of a group of its own, fetching as the writer fetches. */
async function platformaticConsumer(clientId: string) {
  const { Consumer } = await import('@platformatic/kafka');
  return new Consumer({
    clientId,
    bootstrapBrokers: BROKERS,
    groupId: `bench-${crypto.randomUUID()}`,
    maxWaitTime: FETCH_MAX_WAIT_MS,
    maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
    maxBytes: FETCH_BYTES_PER_PARTITION * 4,
  });
}

async function platformaticConsume(job: Job): Promise<void> {
  const consumer = await platformaticConsumer('bench-platformatic');
  const tally = new Tally(job);
  tally.start();
  const stream = await consumer.consume({ topics: [job.topic], mode: 'earliest', autocommit: false });
  stream.on('data', (m) => tally.add(m.value, m.headers.size));
  outcome = await tally.result();
  await stream.close();
  await consumer.close(true);
}

/** Reads the topic with the client's fetch() per partition leader, offsets kept here, until every record is seen. */
async function platformaticFetch(job: Job): Promise<void> {
  const consumer = await platformaticConsumer('bench-platformatic-fetch');
  const tally = new Tally(job);
  tally.start();
  const topic = (await consumer.metadata({ topics: [job.topic] })).topics.get(job.topic)!;
  const next = topic.partitions.map(() => 0n);
  const byLeader = new Map<number, number[]>();
  topic.partitions.forEach((p, i) => byLeader.set(p.leader, [...(byLeader.get(p.leader) ?? []), i]));
  let seen = 0;
  while (seen < job.records) {
    for (const [node, partitions] of byLeader) {
      const response = await consumer.fetch({
        node,
        maxWaitTime: FETCH_MAX_WAIT_MS,
        minBytes: 1,
        maxBytes: FETCH_BYTES_PER_PARTITION * 4,
        topics: [
          {
            topicId: topic.id,
            partitions: partitions.map((partition) => ({
              partition,
              currentLeaderEpoch: -1,
              fetchOffset: next[partition],
              lastFetchedEpoch: -1,
              partitionMaxBytes: FETCH_BYTES_PER_PARTITION,
            })),
          },
        ],
      });
      for (const answer of response.responses[0]?.partitions ?? []) {
        if (answer.errorCode !== 0) throw new Error(`fetch of partition ${answer.partitionIndex}: ${answer.errorCode}`);
        for (const batch of answer.records ?? []) {
          for (const record of batch.records) {
            const offset = batch.firstOffset + BigInt(record.offsetDelta);
            if (offset < next[answer.partitionIndex]) continue; // a batch starts before the offset asked for
            tally.add(record.value, record.headers.length);
            seen++;
          }
          next[answer.partitionIndex] = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
        }
      }
    }
  }
  outcome = await tally.result();
  await consumer.close(true);
}

async function child(job: Job): Promise<void> {
  if (job.phase === 'produce') {
    const items = records(job.shape, job.records);
    const headers = headersOf(job.shape);
    if (job.client === 'platformatic') await platformaticProduce(job, items, headers);
    else await kafkajsProduce(job, items, headers);
  } else if (job.client === 'platformatic') await platformaticConsume(job);
  else if (job.client === 'platformatic-fetch') await platformaticFetch(job);
  else await kafkajsConsume(job);
  process.stdout.write(JSON.stringify(outcome));
  process.exit(0);
}

function runChild(job: Job): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const args = [...NODE_FLAGS, '--import', 'tsx', SELF, '--job', JSON.stringify(job)];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as Outcome);
      else reject(new Error(`${job.client} ${job.phase} exited ${code}`));
    });
  });
}

async function parent(): Promise<void> {
  const options = { records: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' } } as const;
  const { values } = parseArgs({ options });
  const rounds = Number(values.rounds);
  // A tenth as many bundle records as single-event records: each bundle holds BUNDLE events.
  const singles = Number(values.records);
  const shapes: Array<[Shape, number]> = [
    ['bundles', Math.round(singles / 10)],
    ['events', singles],
  ];
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ clientId: 'bench-admin', brokers: BROKERS, logLevel: logLevel.ERROR }).admin();
  await admin.connect();
  const id = crypto.randomBytes(4).toString('hex');
  const topics: string[] = [];
  const topic = async (name: string) => {
    const t = `bench.${id}.${name}`;
    topics.push(t);
    const spec = { topic: t, numPartitions: PARTITIONS, replicationFactor: 1 };
    await admin.createTopics({ topics: [spec], waitForLeaders: true });
    return t;
  };
  const produceClients: Client[] = ['kafkajs', 'kafkajs+native-crc', 'platformatic'];
  const consumeClients: Client[] = ['kafkajs', 'platformatic', 'platformatic-fetch'];
  const results = new Map<string, Outcome[]>();
  const keep = (label: string, o: Outcome) => {
    results.set(label, [...(results.get(label) ?? []), o]);
    const memory = `RSS ${o.rssMb.toFixed(0)} MB, heap ${o.heapMb.toFixed(0)} MB`;
    const rate = `${fmt(o.records / o.seconds)} records/s`;
    console.error(`${label}: ${(o.cpuUs / o.records).toFixed(1)} µs CPU/record, ${rate}, ${memory}`);
  };
  try {
    for (const [shape, count] of shapes) {
      const filled = await topic(`${shape}.consume`);
      await runChild({ client: 'kafkajs', phase: 'produce', shape, topic: filled, records: count, idempotent: false });
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? produceClients : [...produceClients].reverse();
        for (const idempotent of [false, true]) {
          for (const client of order) {
            const name = `${shape}.${round}.${client.replace(/\W/g, '')}.${idempotent ? 'idem' : 'plain'}`;
            const job: Job = { client, phase: 'produce', shape, topic: await topic(name), records: count, idempotent };
            keep(`produce${idempotent ? '-idempotent' : ''} ${shape} ${client}`, await runChild(job));
          }
        }
        for (const client of round % 2 === 0 ? consumeClients : [...consumeClients].reverse()) {
          const job: Job = { client, phase: 'consume', shape, topic: filled, records: count, idempotent: false };
          keep(`consume ${shape} ${client}`, await runChild(job));
        }
      }
    }
  } finally {
    await admin.deleteTopics({ topics }).catch(() => {});
    await admin.disconnect();
  }
  console.log(table(results, rounds));
}

function table(results: Map<string, Outcome[]>, rounds: number): string {
  const lines = [
    `kafka-clients: median of ${rounds} rounds, each measurement in its own process`,
    '| measurement | client | CPU per record | CPU per event | records/s | peak RSS | heap after |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [label, list] of results) {
    const [phase, shape, client] = label.split(' ');
    const m = (f: (o: Outcome) => number) => median(list.map(f));
    const cells = [
      `${m((o) => o.cpuUs / o.records).toFixed(1)} µs`,
      `${m((o) => o.cpuUs / o.events).toFixed(2)} µs`,
      fmt(m((o) => o.records / o.seconds)),
      `${m((o) => o.rssMb).toFixed(0)} MB`,
      `${m((o) => o.heapMb).toFixed(0)} MB`,
    ];
    lines.push(`| ${phase} ${shape} | ${client} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

const { values: own } = parseArgs({ options: { job: { type: 'string' } }, strict: false });
if (typeof own.job === 'string') await child(JSON.parse(own.job) as Job);
else await parent();
