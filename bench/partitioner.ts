/**
 * What routing an item to its partition costs, per key: Kafka's default partitioner (murmur2 of the key's UTF-8
 * bytes) as vigil computes it (shared/kafka/partitioner.ts, 32-bit integer arithmetic), as KafkaJS's
 * DefaultPartitioner computes it (its 64-bit Long emulation; vigil's keyPartition until 2026-12-07) and as
 * `@platformatic/kafka`'s compatibility partitioner computes it (BigInt). The gateway routes every event (by source)
 * and every metric sample (by series fingerprint) this way. Rounds alternate the three in one process.
 *
 *   node --import tsx bench/partitioner.ts [--keys 200000] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { compatibilityPartitioner } from '@platformatic/kafka';
import { keyPartition } from '../shared/kafka/partitioner.ts';
import { seriesFingerprint } from '../shared/schemas/metric.ts';
import { kafkajsPartition } from '../test/helpers/kafkajs-partitioner.ts';
import { loadAverage } from './env.ts';

const { values } = parseArgs({
  options: { keys: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '5' } },
});
const calls = Number(values.keys);
const rounds = Number(values.rounds);
const PARTITIONS = 6;

const implementations: Array<[string, (key: string) => number]> = [
  ['vigil (32-bit murmur2)', (key) => keyPartition(key, PARTITIONS)],
  ['KafkaJS DefaultPartitioner', (key) => kafkajsPartition(key, PARTITIONS)],
  [
    '@platformatic/kafka compatibilityPartitioner',
    (key) => {
      const bytes = Buffer.from(key);
      return compatibilityPartitioner({ topic: 't', key: bytes }, bytes) % PARTITIONS;
    },
  ],
];
const keySets: Array<[string, string[]]> = [
  ['event sources (web-server-0…19)', Array.from({ length: 20 }, (_, i) => `web-server-${i}`)],
  [
    'metric series fingerprints (1,000)',
    Array.from({ length: 1000 }, (_, i) => seriesFingerprint('http_requests_total', { host: `h${i}`, code: '200' })),
  ],
];

console.log(`load average at the start: ${loadAverage()}; ${calls} keys per measurement, ${rounds} rounds\n`);
console.log('| keys | implementation | ns per key (median of rounds) | × vigil |');
console.log('|---|---|---|---|');
for (const [setName, keys] of keySets) {
  const times = implementations.map(() => [] as number[]);
  let sink = 0;
  for (let round = 0; round < rounds; round++) {
    implementations.forEach(([, partition], i) => {
      const started = process.hrtime.bigint();
      for (let k = 0; k < calls; k++) sink += partition(keys[k % keys.length]);
      times[i].push(Number(process.hrtime.bigint() - started) / calls);
    });
  }
  const medians = times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
  implementations.forEach(([name], i) => {
    console.log(`| ${setName} | ${name} | ${medians[i].toFixed(0)} | ${(medians[i] / medians[0]).toFixed(1)}× |`);
  });
  if (sink < 0) console.log(sink);
}
