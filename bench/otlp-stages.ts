/**
 * Where the CPU of an OTLP metrics request goes, per data point, against the same points as a vigil JSON array:
 * decoding (protobuf decode, or JSON.parse + fromObject for OTLP JSON; the body splitter for vigil JSON), mapping
 * onto vigil samples (OTLP only), the metric kind's own check (redaction, validation, ids) and Avro encoding. In CPU
 * time of this process (process.cpuUsage), no HTTP and no Kafka: those cost every form alike per request.
 *
 *   node --import tsx bench/otlp-stages.ts [--requests 3000] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { fixedPartitions } from '../shared/kafka/partitioner.ts';
import { loadCodecs } from '../shared/schemas/avro.ts';
import { parseBody } from '../services/gateway/body.ts';
import { maxItemValues, metricKind } from '../services/gateway/kinds.ts';
import { metricsToSamples } from '../services/gateway/otlp/metrics.ts';
import { decodeRequest } from '../services/gateway/otlp/proto.ts';
import { otlpPayloads } from './otlp-data.ts';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '3000' }, rounds: { type: 'string', default: '3' } },
});
const requests = Number(values.requests);
const rounds = Number(values.rounds);
const ITEMS = 100;
const SERVICES = 10;

const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
const codecs = loadCodecs();
// The router (the only user of the partitioner) is not measured: bundling costs every form alike.
const kind = metricKind(config, codecs.get('Metric')!, codecs.get('MetricBundle')!, fixedPartitions(6));
const { metrics, protobuf } = otlpPayloads(ITEMS, SERVICES);
const bodies = {
  json: Buffer.from(metrics.json),
  proto: protobuf('metrics', metrics.otlp),
  otlpJson: Buffer.from(JSON.stringify(metrics.otlp)),
};
const bodyLimits = { maxBytes: config.ingest.bodyLimitBytes, maxItems: 5000, maxItemValues: maxItemValues(config) };
const mapLimits = { maxUnits: 5000, maxItems: 40_000, maxDepth: config.ingest.maxDepth };

type Stage = 'decode' | 'map' | 'check' | 'encode';
const STAGES: Stage[] = ['decode', 'map', 'check', 'encode'];

/** Runs one request up to `until` (cumulative stages). */
function run(form: keyof typeof bodies, until: number): void {
  let items: unknown[];
  if (form === 'json') {
    const parsed = parseBody('application/json', bodies.json, bodyLimits, kind);
    items = parsed.form === 'items' ? parsed.items : (parsed.value as unknown[]);
    if (until < 2) return;
  } else {
    const message = decodeRequest('metrics', form === 'proto' ? 'protobuf' : 'json', bodies[form]);
    if (until < 1) return;
    items = metricsToSamples(message, mapLimits).items;
    if (until < 2) return;
  }
  const ctx = { requestId: undefined, createdBy: 'bench', now: Date.now() };
  for (const item of items) {
    const result = kind.check(item, ctx);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    if (until >= 3) kind.codec.encodeView(result.value);
  }
}

function cpuPerPoint(form: keyof typeof bodies, until: number): number {
  for (let i = 0; i < Math.min(300, requests); i++) run(form, until);
  const started = process.cpuUsage();
  for (let i = 0; i < requests; i++) run(form, until);
  const used = process.cpuUsage(started);
  return (used.user + used.system) / (requests * ITEMS);
}

const forms = { json: 'vigil JSON', proto: 'OTLP proto', otlpJson: 'OTLP JSON' } as const;
const results: Record<string, number[][]> = { json: [], proto: [], otlpJson: [] };
for (let r = 0; r < rounds; r++) {
  for (const form of Object.keys(forms) as (keyof typeof forms)[]) {
    results[form].push(STAGES.map((_, until) => cpuPerPoint(form, until)));
  }
}

console.log(`\nCPU per metric point, ${requests} requests of ${ITEMS} points, median of ${rounds} rounds:\n`);
console.log('| form | decode | + map | + check | + Avro | total | share of vigil JSON (points per CPU-second) |');
console.log('|---|---|---|---|---|---|---|');
const medians = Object.fromEntries(
  Object.entries(results).map(([form, list]) => [form, STAGES.map((_, s) => median(list.map((l) => l[s])))]),
);
for (const [form, label] of Object.entries(forms)) {
  const m = medians[form];
  const steps = m.map((v, s) => (s === 0 ? v : v - m[s - 1]));
  // vigil JSON items need no mapping: the column shows noise only.
  const cells = steps.map((v, s) => (form === 'json' && s === 1 ? '—' : `${v.toFixed(2)} µs`));
  const share = ((medians.json[3] / m[3]) * 100).toFixed(0);
  console.log(
    `| ${label} | ${cells.join(' | ')} | ${m[3].toFixed(2)} µs | ` + `${form === 'json' ? '' : `${share}%`} |`,
  );
}

function median(list: number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
