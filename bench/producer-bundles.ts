/**
 * What bundling saves the producer: 100-event publishes (the gateway's Avro items, 10 sources), 16 in flight,
 * through BatchingProducer to the local broker (acks=all), in three forms side by side, in alternating rounds:
 *   one record per event        every item its own record (a unique key per item: what the gateway did before)
 *   bundles within a request    a send per publish (maxInFlightSends ≥ the publishes in flight), so a bundle holds
 *                               one request's events of one source
 *   bundles across requests     the gateway's setting (4 sends in flight): publishes waiting for a send share it,
 *                               and their events of one source share a bundle
 * Reported: CPU per event of this process (process.cpuUsage: less sensitive to the machine's other load than wall
 * time) and events/s (wall), median of the rounds.
 *
 *   node --import tsx bench/producer-bundles.ts [--publishes 3000] [--rounds 3]
 */
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { BatchingProducer, type BundleItem } from '../shared/kafka/producer.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { benchTopics, contractEvent } from './bench-topics.ts';

const { values } = parseArgs({
  options: { publishes: { type: 'string', default: '3000' }, rounds: { type: 'string', default: '3' } },
});
const publishes = Number(values.publishes);
const rounds = Number(values.rounds);
const SIZE = 100;
const CONCURRENCY = 16;

const { config, kafka, cleanup } = await benchTopics('bench-bundles');
const codecs = loadCodecs();
const codec = codecs.get('Event')!;
const headers = { 'vigil-schema': codecs.get('EventBundle')!.schemaId, 'vigil-producer': 'gateway' };
const events = Array.from({ length: SIZE }, (_, i) => {
  const event = contractEvent(i);
  return codec.encode({
    ...event,
    id: crypto.randomUUID(),
    tags: JSON.stringify(event.tags),
    payload: JSON.stringify(event.payload),
    timestamp: Date.now(),
    created_by: 'bench',
  });
});
const bundled: BundleItem[] = events.map((value, i) => ({ into: `web-server-${i % 10}`, value }));
let unique = 0;

const forms: Array<[string, number, () => BundleItem[]]> = [
  ['one record per event', 4, () => events.map((value, i) => ({ into: `web-server-${i % 10}#${unique++}`, value }))],
  ['bundles within a request', CONCURRENCY, () => bundled],
  ['bundles across requests (the gateway)', 4, () => bundled],
];

const results = new Map<string, { cpu: number[]; rate: number[] }>(
  forms.map(([name]) => [name, { cpu: [], rate: [] }]),
);
for (let round = 0; round < rounds; round++) {
  for (const [name, sends, items] of forms) {
    const producer = new BatchingProducer(kafka, { timeoutMs: 30_000, maxInFlightSends: sends });
    await producer.connect();
    await runMany(producer, items, 200); // warm-up
    const cpu = process.cpuUsage();
    const started = performance.now();
    await runMany(producer, items, publishes);
    const used = process.cpuUsage(cpu);
    const seconds = (performance.now() - started) / 1000;
    await producer.close();
    const result = results.get(name)!;
    result.cpu.push((used.user + used.system) / (publishes * SIZE));
    result.rate.push((publishes * SIZE) / seconds);
    console.error(
      `round ${round + 1} ${name}: ${result.cpu.at(-1)!.toFixed(2)} µs CPU per event, ` +
        `${Math.round(result.rate.at(-1)!)} events/s`,
    );
  }
}
await cleanup();

console.log(
  `\n${publishes} publishes of ${SIZE} events (10 sources, ${events[0].length} bytes each as Avro), ${CONCURRENCY} ` +
    `in flight, median of ${rounds} rounds:\n`,
);
console.log('| form | CPU per event (producer) | events/s (wall) |');
console.log('|---|---|---|');
for (const [name, { cpu, rate }] of results)
  console.log(`| ${name} | ${median(cpu).toFixed(2)} µs | ${Math.round(median(rate)).toLocaleString('en-US')} |`);

async function runMany(producer: BatchingProducer, items: () => BundleItem[], count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < count) await producer.publish(config.kafka.topics.events, headers, items());
    }),
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
