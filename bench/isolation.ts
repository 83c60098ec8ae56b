/**
 * Isolation of expensive work: latency of the everyday query API — GET /events (one source's newest 100; the
 * newest 50 errors) and GET /incidents (a moderator's list) — alone, then while 8 clients (8 subjects) hammer the
 * expensive incident routes in closed loops: analysis recomputes and deep timeline pages (offset 5,000 of a 24 h
 * window over every source). Target: p99 under load within 2× of p99 alone.
 *
 *   node --import tsx bench/isolation.ts     # [--requests 200] [--seconds-warmup 3]
 *
 * Data: the query benchmark's generator (bench/query-data.ts) at 1,000,000 events and 500,000 metric samples over
 * 7 days, in a database of its own (BENCH_ISOLATION_DATABASE_URL, default vigil_bench_isolation; loaded once), plus
 * 40 incidents over days 1–6 scoped to every source. The server is `bin/vigil.ts --role query` in a child process
 * (as deployed), once per configuration:
 *   defaults                 INCIDENTS_EXPENSIVE_CONCURRENCY=2, rate limits as shipped (6 recomputes/min/subject)
 *   no rate limit            the same without the recompute limit: isolation by the expensive pool alone
 *   wide expensive pool      16 expensive connections, no queue bound, no rate limit: what the bound prevents
 * Measured requests are sequential (one at a time) from this process, alternating the three kinds.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { signToken } from '../shared/auth/tokens.ts';
import { loadConfig } from '../shared/config.ts';
import { spawnVigil, type VigilProcess, waitVigilReady } from '../test/helpers/process.ts';
import { ensureBenchData } from './query-data.ts';

const URL_ = process.env.BENCH_ISOLATION_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vigil_bench_isolation';
const arg = (name: string, fallback: number) => Number(process.argv[process.argv.indexOf(`--${name}`) + 1] || fallback);
const REQUESTS = arg('requests', 200);
const WARMUP_SECONDS = arg('seconds-warmup', 3);
const HAMMER_CLIENTS = 8;
const READY_TIMEOUT_MS = 60_000;
const INCIDENTS = 40;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CONFIGURATIONS: { name: string; env: Record<string, string> }[] = [
  { name: 'defaults', env: {} },
  { name: 'no rate limit', env: { RATE_LIMIT_RECOMPUTE: '0' } },
  {
    name: 'wide expensive pool',
    env: { RATE_LIMIT_RECOMPUTE: '0', INCIDENTS_EXPENSIVE_CONCURRENCY: '16', INCIDENTS_EXPENSIVE_QUEUE: '10000' },
  },
];

const meta = await ensureBenchData({ events: 1_000_000, metricSamples: 500_000 }, URL_, (l) =>
  console.error(`[isolation bench] ${l}`),
);
const db = new pg.Client({ connectionString: URL_ });
await db.connect();
await db.query("DELETE FROM incidents WHERE created_by = 'bench'");
const incidentIds: string[] = [];
for (let i = 0; i < INCIDENTS; i++) {
  const start = meta.anchorMs - DAY - Math.floor(((5 * DAY) / INCIDENTS) * i);
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO incidents (id, title, severity, created_by, sources, tags, started_at, resolved_at, status,
       analysis_due)
     VALUES (gen_random_uuid(), $1, 'high', 'bench', $2, $3, $4, $5, 'resolved', false) RETURNING id`,
    [
      `bench incident ${i}`,
      ['api-gateway', 'payment-service'],
      JSON.stringify({ environment: 'production' }),
      new Date(start),
      new Date(start + DAY - HOUR),
    ],
  );
  incidentIds.push(rows[0].id);
}
await db.query('ANALYZE incidents');

const config = loadConfig({});
const token = (role: 'moderator' | 'user', sub: string) => signToken(config.auth, { role, sub, ttlSeconds: 3600 });
const reader = token('moderator', 'bench-reader');
const MEASURED: { name: string; url: string }[] = [
  { name: 'GET /events?source=…&limit=100', url: '/api/v1/monitoring/events?source=api-gateway&limit=100' },
  { name: 'GET /events?level=error&limit=50', url: '/api/v1/monitoring/events?level=error&limit=50' },
  { name: 'GET /incidents?limit=50', url: '/api/v1/monitoring/incidents?limit=50' },
];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function get(base: string, url: string, bearer: string): Promise<number> {
  const res = await fetch(`${base}${url}`, { headers: { authorization: `Bearer ${bearer}` } });
  await res.arrayBuffer();
  return res.status;
}

async function measure(base: string): Promise<Map<string, number[]>> {
  const times = new Map(MEASURED.map((m) => [m.name, [] as number[]]));
  for (let i = 0; i < REQUESTS; i++) {
    for (const m of MEASURED) {
      const started = performance.now();
      const status = await get(base, m.url, reader);
      times.get(m.name)!.push(performance.now() - started);
      if (status !== 200) throw new Error(`${m.url} answered ${status}`);
    }
  }
  for (const list of times.values()) list.sort((a, b) => a - b);
  return times;
}

async function run(configuration: { name: string; env: Record<string, string> }): Promise<string[]> {
  const port = 20_000 + crypto.randomInt(10_000);
  const server: VigilProcess = spawnVigil('query', {
    DATABASE_URL: URL_,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    QUERY_FOLD_INTERVAL_SECONDS: '3600',
    INCIDENTS_POLL_MS: '600000',
    ...configuration.env,
  });
  const base = `http://127.0.0.1:${port}`;
  await waitVigilReady(server, port, 'query role', READY_TIMEOUT_MS);
  // Warm-up: plans cached, pools filled.
  const warmUntil = Date.now() + WARMUP_SECONDS * 1000;
  while (Date.now() < warmUntil) for (const m of MEASURED) await get(base, m.url, reader);

  const alone = await measure(base);
  let stop = false;
  const answers: Record<string, number> = {};
  const hammer = Array.from({ length: HAMMER_CLIENTS }, async (_, c) => {
    const bearer = token('moderator', `bench-hammer-${c}`);
    for (let i = 0; !stop; i++) {
      const id = incidentIds[(c * 7 + i) % incidentIds.length];
      const kind = i % 2 === 0 ? 'recompute' : 'timeline';
      const url =
        kind === 'recompute'
          ? `/api/v1/monitoring/incidents/${id}/analysis?recompute=true`
          : `/api/v1/monitoring/incidents/${id}/timeline?limit=100&offset=5000`;
      const status = await get(base, url, bearer);
      answers[`${kind} ${status}`] = (answers[`${kind} ${status}`] ?? 0) + 1;
    }
  });
  await sleep(2000); // the hammer at full speed before measuring
  const loaded = await measure(base);
  stop = true;
  await Promise.all(hammer);
  server.child.kill('SIGTERM');
  await server.exited;

  console.error(`[isolation bench] ${configuration.name}: hammer answers ${JSON.stringify(answers)}`);
  return MEASURED.map((m) => {
    const a = alone.get(m.name)!;
    const l = loaded.get(m.name)!;
    const ratio = percentile(l, 99) / percentile(a, 99);
    return (
      `| ${configuration.name} | ${m.name} | ${percentile(a, 50).toFixed(1)} / ${percentile(a, 99).toFixed(1)} ms | ` +
      `${percentile(l, 50).toFixed(1)} / ${percentile(l, 99).toFixed(1)} ms | ${ratio.toFixed(2)}× |`
    );
  });
}

const rows: string[] = [];
for (const configuration of CONFIGURATIONS) rows.push(...(await run(configuration)));
await db.query("DELETE FROM incidents WHERE created_by = 'bench'");
await db.end();
console.log(`\n${REQUESTS} requests of each kind per phase\n`);
console.log(
  '| configuration | request | alone p50 / p99 | under hammer p50 / p99 | p99 ratio |\n|---|---|---|---|---|\n' +
    rows.join('\n'),
);
