/**
 * The PromQL engine's cost once the data are loaded: evaluation of a query_range plus its JSON answer, over series
 * built in memory in the shapes of the dashboard panels (no database, no HTTP), for two checkouts side by side in
 * one process — this one and a baseline (BENCH_BASE, a worktree of the code to compare with). Rounds alternate
 * which checkout runs first; every answer of the two is compared byte for byte once.
 *
 *   node --import tsx bench/promql-eval.ts                                   # BENCH_BASE defaults to ../engine-base
 *   BENCH_BASE=/path/to/checkout BENCH_ROUNDS=6 BENCH_ITERATIONS=3 node --import tsx bench/promql-eval.ts
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/promql-eval.ts   # BENCH_ONLY=new: this checkout only
 *
 * Panels (24 h unless said):
 *   gauges   1,000 gauges × 5,760 samples at 15 s (labels instance × cpu: 100 instances); the loader's step-reduced
 *            shape, 1,441 points per series, as a second input of the same panel
 *   counters 736 running counters at 15 s (labels route × instance: 8 routes)
 *   buckets  1,000 histograms × 21 `le` series = 21,000 `_bucket` series, a sample every 10 min over 7 h
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const BASE = process.env.BENCH_BASE ?? path.resolve(ROOT, '..', 'engine-base');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 3);
const ONLY = process.env.BENCH_ONLY; // 'new' | 'base'

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const END = Date.UTC(2026, 11, 6, 0, 0, 0);
const DAY_START = END - 24 * HOUR;

type Labels = Record<string, string>;
interface Raw {
  labels: Labels;
  times: number[];
  values: number[];
}

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauges(intervalMs: number, from: number): Raw[] {
  const rnd = random(1);
  const out: Raw[] = [];
  for (let instance = 0; instance < 100; instance++) {
    for (let cpu = 0; cpu < 10; cpu++) {
      const times: number[] = [];
      const values: number[] = [];
      for (let t = from; t <= END; t += intervalMs) {
        times.push(t);
        values.push(Math.round(rnd() * 10_000) / 100);
      }
      out.push({
        labels: { __name__: 'panel_cpu_usage', instance: `host-${instance}`, cpu: String(cpu) },
        times,
        values,
      });
    }
  }
  return out;
}

function counters(): Raw[] {
  const rnd = random(2);
  const out: Raw[] = [];
  for (let i = 0; i < 736; i++) {
    const times: number[] = [];
    const values: number[] = [];
    let total = 0;
    for (let t = DAY_START - 5 * MINUTE; t <= END; t += 15 * SECOND) {
      total += Math.floor(rnd() * 20);
      times.push(t);
      values.push(total);
    }
    out.push({
      labels: { __name__: 'panel_requests_total', route: `/r${i % 8}`, instance: `host-${i}` },
      times,
      values,
    });
  }
  return out;
}

function buckets(): Raw[] {
  const rnd = random(3);
  const bounds = [
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10_000,
    Infinity,
  ];
  const out: Raw[] = [];
  for (let h = 0; h < 1000; h++) {
    const times: number[] = [];
    for (let t = END - 7 * HOUR; t <= END; t += 10 * MINUTE) times.push(t);
    const counts = bounds.map(() => 0);
    const values = bounds.map(() => [] as number[]);
    for (let i = 0; i < times.length; i++) {
      const observed = 1 + Math.floor(rnd() * 3);
      for (let o = 0; o < observed; o++) {
        const v = rnd() ** 3 * 20;
        for (let b = 0; b < bounds.length; b++) if (v <= bounds[b]) counts[b]++;
      }
      for (let b = 0; b < bounds.length; b++) values[b].push(counts[b]);
    }
    bounds.forEach((bound, b) => {
      const le = bound === Infinity ? '+Inf' : String(bound);
      const labels = {
        __name__: 'http_request_duration_seconds_bucket',
        le,
        route: `/r${h % 20}`,
        instance: `host-${h}`,
      };
      out.push({ labels, times, values: values[b] });
    });
  }
  return out;
}

/** The 1,441 step representatives of each gauge: the newest sample at or before each step of 60 s. */
function stepReduced(all: Raw[], stepMs: number): Raw[] {
  return all.map((s) => {
    const times: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < s.times.length; i++) {
      const next = s.times[i + 1];
      if (
        next === undefined ||
        Math.floor((next - DAY_START) / stepMs) !== Math.floor((s.times[i] - DAY_START) / stepMs)
      ) {
        times.push(s.times[i]);
        values.push(s.values[i]);
      }
    }
    return { labels: s.labels, times, values };
  });
}

interface Panel {
  name: string;
  query: string;
  data: Raw[];
  start: number;
  end: number;
  stepMs: number;
}

console.error('building the series…');
const gauge15s = gauges(15 * SECOND, DAY_START - 5 * MINUTE);
const PANELS: Panel[] = [
  {
    name: 'avg by (instance) (panel_cpu_usage), 1,000 gauges × 5,760 samples, step 60 s',
    query: 'avg by (instance) (panel_cpu_usage)',
    data: gauge15s,
    start: DAY_START,
    end: END,
    stepMs: MINUTE,
  },
  {
    name: 'avg by (instance) (panel_cpu_usage), step-reduced input: 1,000 × 1,441 points, step 60 s',
    query: 'avg by (instance) (panel_cpu_usage)',
    data: stepReduced(gauge15s, MINUTE),
    start: DAY_START,
    end: END,
    stepMs: MINUTE,
  },
  {
    name: 'panel_cpu_usage, 1,000 gauges × 5,760 samples returned, step 5 m',
    query: 'panel_cpu_usage',
    data: gauge15s,
    start: DAY_START,
    end: END,
    stepMs: 5 * MINUTE,
  },
  {
    name: 'sum by (route) (rate(panel_requests_total[5m])), 736 counters at 15 s, step 60 s',
    query: 'sum by (route) (rate(panel_requests_total[5m]))',
    data: counters(),
    start: DAY_START,
    end: END,
    stepMs: MINUTE,
  },
  {
    name: 'histogram_quantile(0.95, sum by (le) (rate(…_bucket[1h]))), 21,000 bucket series, 6 h, step 5 m',
    query: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1h])))',
    data: buckets(),
    start: END - 6 * HOUR,
    end: END,
    stepMs: 5 * MINUTE,
  },
];

/** A module of either checkout, loaded by path. */
type Module = any;

interface Engine {
  label: string;
  answer(panel: Panel): string;
}

async function engineOf(label: string, root: string): Promise<Engine> {
  const engine: Module = await import(path.join(root, 'shared/promql/engine.ts'));
  const parser: Module = await import(path.join(root, 'shared/promql/expr-parser.ts'));
  const windows: Module = await import(path.join(root, 'shared/promql/windows.ts'));
  const api: Module = await import(path.join(root, 'services/query/promql-api.ts'));
  const exposition: Module = await import(path.join(root, 'services/query/exposition.ts'));
  const sourceOf = (data: Raw[]) => {
    const series = data.map((raw) => {
      const points = new windows.Points();
      points.times = raw.times;
      points.values = raw.values;
      return { labels: raw.labels, points };
    });
    return { select: () => series };
  };
  const sources = new Map<Raw[], unknown>();
  return {
    label,
    answer(panel) {
      let source = sources.get(panel.data);
      if (!source) sources.set(panel.data, (source = sourceOf(panel.data)));
      const expr = parser.parseExpr(panel.query);
      if (typeof api.rangeAnswer === 'function')
        return api.rangeAnswer(source, expr, panel.start, panel.end, panel.stepMs).text;
      // The answer as the code before rangeAnswer builds it (its toMatrix, which that code does not export).
      const series = new engine.Evaluator(source).range(expr, panel.start, panel.end, panel.stepMs);
      const keyed = series.map((s: { labels: Labels }) => ({ key: engine.labelsKey(s.labels), s }));
      keyed.sort((a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : 1));
      const parts: string[] = [];
      for (const { s } of keyed) {
        let values = '';
        for (let i = 0; i < s.times.length; i++)
          values += `${i ? ',' : ''}[${s.times[i] / SECOND},"${exposition.formatValue(s.values[i])}"]`;
        parts.push(`{"metric":${JSON.stringify(s.labels)},"values":[${values}]}`);
      }
      return `{"resultType":"matrix","result":[${parts.join(',')}]}`;
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function measure(engine: Engine, panel: Panel): { cpuMs: number; wallMs: number; text: string } {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const text = engine.answer(panel);
  const used = process.cpuUsage(cpu);
  return { cpuMs: (used.user + used.system) / SECOND, wallMs: performance.now() - wall, text };
}

const engines: Engine[] = [];
if (ONLY !== 'new' && existsSync(BASE)) engines.push(await engineOf('base', BASE));
if (ONLY !== 'base') engines.push(await engineOf('new', ROOT));
const cpuMs = new Map<string, number[]>();
const wallMs = new Map<string, number[]>();
const sizes = new Map<Panel, string>();
const loads: number[] = [os.loadavg()[0]];
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? engines : [...engines].reverse();
  for (const panel of PANELS) {
    const texts: string[] = [];
    for (const engine of order) {
      for (let i = 0; i < ITERATIONS; i++) {
        const { cpuMs: c, wallMs: w, text } = measure(engine, panel);
        const key = `${engine.label}\u0000${panel.name}`;
        cpuMs.set(key, [...(cpuMs.get(key) ?? []), c]);
        wallMs.set(key, [...(wallMs.get(key) ?? []), w]);
        if (i === 0 && round === 0) texts.push(text);
        if (!sizes.has(panel)) {
          const answer = JSON.parse(text) as { result: { values: unknown[] }[] };
          const points = answer.result.reduce((n, s) => n + s.values.length, 0);
          sizes.set(panel, `${answer.result.length} series, ${points.toLocaleString('en')} points`);
        }
      }
    }
    if (texts.length === 2 && texts[0] !== texts[1]) throw new Error(`the answers to ${panel.query} differ`);
  }
  loads.push(os.loadavg()[0]);
  console.error(`round ${round + 1}/${ROUNDS} done, load ${os.loadavg()[0].toFixed(1)}`);
}

const fmt = (n: number) => n.toFixed(0);
const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};
console.log(
  `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model}, ` +
    `load average (1 min) ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}, ` +
    `${ROUNDS} rounds × ${ITERATIONS} per checkout, alternating${engines.length === 2 ? '; answers identical' : ''}`,
);
console.log('');
const labels = engines.map((e) => e.label);
console.log(
  `| panel | answer | ${labels.map((l) => `${l} CPU p50 / p99 ms | ${l} wall p50 / p99 ms`).join(' | ')} |` +
    (engines.length === 2 ? ' CPU p50 ratio |' : ''),
);
console.log(`|---|---|${labels.map(() => '---|---|').join('')}${engines.length === 2 ? '---|' : ''}`);
for (const panel of PANELS) {
  const cells: string[] = [];
  const p50s: number[] = [];
  for (const label of labels) {
    const c = stats(cpuMs.get(`${label}\u0000${panel.name}`)!);
    const w = stats(wallMs.get(`${label}\u0000${panel.name}`)!);
    cells.push(`${fmt(c.p50)} / ${fmt(c.p99)}`, `${fmt(w.p50)} / ${fmt(w.p99)}`);
    p50s.push(c.p50);
  }
  const ratio = p50s.length === 2 ? ` ${(p50s[0] / p50s[1]).toFixed(1)}× |` : '';
  console.log(`| ${panel.name} | ${sizes.get(panel)} | ${cells.join(' | ')} |${ratio}`);
}
