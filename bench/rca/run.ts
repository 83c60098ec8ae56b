/**
 * The outage suite: labelled outages (test/rca/scenarios.ts) ingested through the real pipeline — HTTP →
 * gateway → Kafka → writer → PostgreSQL, with past timestamps — then one incident per outage opened through the
 * API and its analysis recomputed (GET …/analysis?recompute=true). Prints, per family, how often the culprit is
 * ranked first, in the first three, and whether its tag value (host, deployed version, or the metric label) is
 * named among the first five suspects; the analysis time; and each miss with what was ranked first.
 *
 *   node --import tsx bench/rca/run.ts                 # 7 outages per family (42), fresh topics and database
 *   node --import tsx bench/rca/run.ts --per-family 3  # fewer
 *   node --import tsx bench/rca/run.ts --first-seed 8  # other outages (seeds 8…14): a suite not tuned on
 *   node --import tsx bench/rca/run.ts --keep          # keep the database (vigil_bench_rca) for --reuse
 *   node --import tsx bench/rca/run.ts --reuse         # analyse the kept database again (no ingest; the analysis
 *                                                      # code in-process, as the API runs it) — to tune the method
 */
import crypto from 'node:crypto';
import { startRuntime, type Runtime } from '../../bin/runtime.ts';
import { signToken } from '../../shared/auth/tokens.ts';
import { loadConfig } from '../../shared/config.ts';
import { dropDatabase, ensureDatabase } from '../../shared/db/ensure-database.ts';
import { migrate } from '../../shared/db/migrate.ts';
import { createPool } from '../../shared/db/pool.ts';
import { createKafka } from '../../shared/kafka/client.ts';
import { deleteTopics, ensureTopics } from '../../shared/kafka/topics.ts';
import { createLogger } from '../../shared/logger.ts';
import { analyse } from '../../services/incidents/analysis/run.ts';
import type { IncidentRow } from '../../services/incidents/store.ts';
import { FAMILIES, generate, judge, suite, type Scenario, type Verdict } from '../../test/rca/scenarios.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string, fallback: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback;
const PER_FAMILY = option('--per-family', 7);
const FIRST_SEED = option('--first-seed', 1);
const DATABASE = FIRST_SEED === 1 ? 'vigil_bench_rca' : `vigil_bench_rca_${FIRST_SEED}`;
const BATCH_ITEMS = 2000;
const POSTS_IN_FLIGHT = 4;
const HOUR_MS = 3_600_000;
const INGEST_DEADLINE_MS = 15 * 60_000;
const log = (line: string) => console.error(`[rca] ${line}`);

async function post(base: string, token: string, path: string, body: unknown): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status === 202) return;
    if ((res.status === 429 || res.status === 503) && attempt < 20) {
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      continue;
    }
    throw new Error(`POST ${path} answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
  }
}

async function ingest(
  base: string,
  token: string,
  scenarios: Scenario[],
): Promise<{ events: number; samples: number }> {
  const batches: { path: string; body: unknown }[] = [];
  let events = 0;
  let samples = 0;
  for (const s of scenarios) {
    for (let i = 0; i < s.events.length; i += BATCH_ITEMS)
      batches.push({ path: '/api/v1/monitoring/events', body: s.events.slice(i, i + BATCH_ITEMS) });
    for (let i = 0; i < s.samples.length; i += BATCH_ITEMS)
      batches.push({ path: '/api/v1/monitoring/metrics', body: s.samples.slice(i, i + BATCH_ITEMS) });
    events += s.events.length;
    samples += s.samples.length;
  }
  let next = 0;
  let done = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < batches.length) {
      const b = batches[next++];
      await post(base, token, b.path, b.body);
      if (++done % 50 === 0)
        log(`posted ${done}/${batches.length} batches (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  };
  await Promise.all(Array.from({ length: POSTS_IN_FLIGHT }, worker));
  log(`posted ${events} events and ${samples} samples in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { events, samples };
}

async function waitStored(
  pool: ReturnType<typeof createPool>,
  expected: { events: number; samples: number },
): Promise<void> {
  const deadline = Date.now() + INGEST_DEADLINE_MS;
  for (;;) {
    const { rows } = await pool.query<{ kind: string; n: string }>(
      'SELECT kind, sum(count) AS n FROM ingest_totals GROUP BY kind',
    );
    const n = Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
    if ((n.event ?? 0) >= expected.events && (n.metric ?? 0) >= expected.samples) return;
    if (Date.now() > deadline)
      throw new Error(`the writer stored ${JSON.stringify(n)} of ${JSON.stringify(expected)} in time`);
    log(`stored ${n.event ?? 0}/${expected.events} events, ${n.metric ?? 0}/${expected.samples} samples`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

interface Outcome {
  scenario: Scenario;
  verdict: Verdict;
  ms: number;
  top: string[];
}

async function analyseViaApi(base: string, token: string, s: Scenario): Promise<{ suspects: never[]; ms: number }> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const created = await fetch(`${base}/api/v1/monitoring/incidents`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      title: `outage ${s.id}`,
      severity: 'high',
      started_at: new Date(s.startMs).toISOString(),
      ...(s.scope ?? {}),
    }),
  });
  if (created.status !== 201)
    throw new Error(`creating the incident answered ${created.status}: ${await created.text()}`);
  const id = (await created.json()).data.id as string;
  const started = performance.now();
  const res = await fetch(`${base}/api/v1/monitoring/incidents/${id}/analysis?recompute=true`, { headers });
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`analysis answered ${res.status}: ${await res.text()}`);
  return { suspects: (await res.json()).data.suspects, ms };
}

function report(outcomes: Outcome[]): void {
  const pct = (n: number, of: number) => `${Math.round((100 * n) / of)}% (${n}/${of})`;
  console.log('| family | outages | top-1 | top-3 | culprit tag value named |');
  console.log('|---|---|---|---|---|');
  for (const family of [...FAMILIES, 'all'] as const) {
    const of = outcomes.filter((o) => family === 'all' || o.scenario.family === family);
    if (of.length === 0) continue;
    const count = (k: keyof Verdict) => of.filter((o) => o.verdict[k] === true).length;
    console.log(
      `| ${family} | ${of.length} | ${pct(count('top1'), of.length)} | ${pct(count('top3'), of.length)} | ` +
        `${pct(count('tagNamed'), of.length)} |`,
    );
  }
  const firstKinds = new Map<string, number>();
  for (const o of outcomes.filter((x) => x.verdict.top1))
    firstKinds.set(o.top[0].split(' ')[0], (firstKinds.get(o.top[0].split(' ')[0]) ?? 0) + 1);
  console.log(`\nculprit ranked first as: ${[...firstKinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const times = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const p = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)].toFixed(0);
  console.log(`analysis time over ${times.length} incidents: p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`);
  for (const o of outcomes.filter((x) => !x.verdict.top1 || !x.verdict.tagNamed)) {
    console.log(
      `miss ${o.scenario.id}: culprit ${o.scenario.culprit} ` +
        `(${o.scenario.culpritTag.key}=${o.scenario.culpritTag.value}), ` +
        `victims ${o.scenario.victims.join(', ')}; ranked ${o.top.join(' | ')}`,
    );
  }
}

async function main(): Promise<void> {
  const base = loadConfig(process.env);
  const url = new URL(base.database.url);
  url.pathname = `/${DATABASE}`;
  const newestStart = Math.floor((Date.now() - HOUR_MS) / 60_000) * 60_000;
  const scenarios = suite(PER_FAMILY, newestStart, FIRST_SEED);
  const outcomes: Outcome[] = [];
  const record = (
    s: Scenario,
    suspects: { kind: string; name: string; evidence: Record<string, unknown> }[],
    ms: number,
  ) =>
    outcomes.push({
      scenario: s,
      verdict: judge(s, suspects),
      ms,
      top: suspects.slice(0, 3).map((x) => `${x.kind} ${x.name}`),
    });

  if (flag('--reuse')) {
    // The kept database's outages were generated with start times relative to when they were ingested.
    const pool = createPool(url.toString(), 4, 'vigil-bench-rca');
    const { rows } = await pool.query<{ title: string; started_at: Date; sources: string[] }>(
      'SELECT title, started_at, sources FROM incidents ORDER BY started_at DESC',
    );
    for (const row of rows) {
      const [family, seed] = [
        row.title.replace(/^outage /, '').replace(/-\d+$/, ''),
        Number(row.title.match(/-(\d+)$/)?.[1]),
      ];
      const s = generate(family as Scenario['family'], seed, row.started_at.getTime());
      const incident = {
        id: crypto.randomUUID(),
        started_at: row.started_at,
        sources: row.sources,
        tags: {},
      } as unknown as IncidentRow;
      const started = performance.now();
      const analysis = await analyse(pool, incident, 'request');
      record(s, analysis.suspects as never, performance.now() - started);
    }
    await pool.end();
    report(outcomes);
    return;
  }

  const id = crypto.randomBytes(4).toString('hex');
  const env = {
    ...process.env,
    DATABASE_URL: url.toString(),
    KAFKA_TOPIC_EVENTS: `bench.${id}.events`,
    KAFKA_TOPIC_METRICS: `bench.${id}.metrics`,
    KAFKA_TOPIC_DLQ: `bench.${id}.dlq`,
    WRITER_GROUP_ID: `bench-${id}-writer`,
    VIGIL_ROLES: 'gateway,writer,query',
    INCIDENTS_POLL_MS: '600000',
    LOG_LEVEL: 'warn',
    PORT: '0',
  };
  const config = loadConfig(env);
  const logger = createLogger('warn', 'bench-rca');
  await dropDatabase(config.database.url, DATABASE).catch(() => {});
  await ensureDatabase(config.database.url);
  await migrate(config.database.url);
  const kafka = createKafka(config.kafka, 'bench-rca');
  await ensureTopics(kafka, config.kafka);
  let runtime: Runtime | undefined;
  try {
    runtime = await startRuntime(config, logger);
    await runtime.app.listen({ host: '127.0.0.1', port: 0 });
    const address = runtime.app.server.address();
    const api = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const token = signToken(config.auth, { role: 'moderator', sub: crypto.randomUUID(), ttlSeconds: 3600 });
    log(
      `${scenarios.length} outages (${PER_FAMILY} per family), ` +
        `${scenarios.reduce((n, s) => n + s.events.length, 0)} events`,
    );
    await waitStored(runtime.pool, await ingest(api, token, scenarios));
    for (const [i, s] of scenarios.entries()) {
      const { suspects, ms } = await analyseViaApi(api, token, s);
      record(s, suspects, ms);
      if ((i + 1) % 10 === 0) log(`analysed ${i + 1}/${scenarios.length}`);
    }
    report(outcomes);
  } finally {
    await runtime?.stop();
    await deleteTopics(kafka, [config.kafka.topics.events, config.kafka.topics.metrics, config.kafka.topics.dlq]).catch(
      () => {},
    );
    if (!flag('--keep')) await dropDatabase(config.database.url, DATABASE).catch(() => {});
  }
}

await main();
