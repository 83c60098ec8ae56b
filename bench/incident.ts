/**
 * Incident timeline and root-cause analysis latency with 10,000,000 events (and 10,000,000 metric samples) in the
 * tables: the query benchmark's data set (bench/query-data.ts: 50 sources, 7 days, 15% warn and above, 2% alert
 * events, request ids in tags), in a database of its own. Targets: timeline p99 < 100 ms, analysis p99 < 1 s.
 *
 *   node --import tsx bench/incident.ts      # [--runs 40]
 *   node --import tsx bench/incident.ts --baseline /path/to/older/checkout
 *       # also times that checkout's analysis, alternating with this one's on the same incidents (side by side)
 *
 * The database (BENCH_INCIDENT_DATABASE_URL, default vigil_bench_incident) is made once: copied from the query
 * benchmark's database when that holds the data set (CREATE DATABASE … TEMPLATE, no reload), otherwise loaded with
 * its loader (COPY). Migrations are applied to it (0005 builds the partial index on the loaded rows). Incidents
 * are inserted at different days of the data, so runs read different partitions; each scenario runs the code the
 * API runs (readTimeline, analyse) on a pool with the query role's session settings (jit off, statement timeout).
 */
import pg from 'pg';
import { migrate } from '../shared/db/migrate.ts';
import { createPool } from '../shared/db/pool.ts';
import { analyse } from '../services/incidents/analysis/run.ts';
import { COLUMNS, type IncidentRow } from '../services/incidents/store.ts';
import { readTimeline } from '../services/incidents/timeline.ts';
import { BENCH_DATABASE_URL, DEFAULT_SPEC, ensureBenchData } from './query-data.ts';

const URL_ = process.env.BENCH_INCIDENT_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/vigil_bench_incident';
const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1] || 40);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function ensureDatabase(): Promise<void> {
  const name = new URL(URL_).pathname.slice(1);
  const admin = new pg.Client({ connectionString: URL_.replace(/\/[^/?]+(\?|$)/, '/postgres$1') });
  await admin.connect();
  try {
    const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
    if (exists) return;
    const template = new URL(BENCH_DATABASE_URL).pathname.slice(1);
    const hasTemplate = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template])).rowCount === 1;
    if (hasTemplate) {
      console.error(`[incident bench] copying ${template} into ${name}`);
      await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
    }
  } finally {
    await admin.end();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function measure(label: string, runs: number, body: (i: number) => Promise<unknown>): Promise<string> {
  await body(0); // one warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    await body(i);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  const row =
    `| ${label} | ${runs} | ${percentile(times, 50).toFixed(1)} ms | ${percentile(times, 99).toFixed(1)} ` +
    `ms | ${times[times.length - 1].toFixed(1)} ms |`;
  console.log(row);
  return row;
}

await ensureDatabase();
const meta = await ensureBenchData(DEFAULT_SPEC, URL_);
await migrate(URL_, (l) => console.error(`[incident bench] ${l}`));
const settings = new URL(URL_);
settings.searchParams.set('options', '-c statement_timeout=10000 -c jit=off');
const pool = createPool(settings.toString(), 2, 'vigil-bench-incident');
await pool.query('ANALYZE incidents');

const {
  rows: [{ events }],
} = await pool.query<{ events: string }>('SELECT count(*) AS events FROM events');
console.error(
  `[incident bench] ${Number(events).toLocaleString('en')} events; anchor ${new Date(meta.anchorMs).toISOString()}`,
);

/** Incidents started at `runs` different times between 1 and 6 days before the anchor. */
async function incidents(
  name: string,
  fields: { sources: string[]; tags: Record<string, string>; durationMs: number; alert?: boolean },
): Promise<IncidentRow[]> {
  await pool.query('DELETE FROM incidents WHERE title = $1', [name]);
  const out: IncidentRow[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const start = meta.anchorMs - DAY - Math.floor(((5 * DAY) / RUNS) * i);
    const {
      rows: [row],
    } = await pool.query<IncidentRow>(
      `INSERT INTO incidents (id, title, severity, created_by, sources, tags, started_at, resolved_at, status,
         analysis_due)
       VALUES (gen_random_uuid(), $1, 'high', 'bench', $2, $3, $4, $5, 'resolved', false) RETURNING ${COLUMNS}`,
      [name, fields.sources, JSON.stringify(fields.tags), new Date(start), new Date(start + fields.durationMs)],
    );
    if (fields.alert) {
      await pool.query(
        `INSERT INTO incident_alerts (incident_id, rule_id, fingerprint, rule_name, labels, attached_at) VALUES ($1, ` +
          `gen_random_uuid(), 'fp', 'bench rule', '{"source":"auth-service"}', $2)`,
        [row.id, new Date(start)],
      );
    }
    for (const entry of ['status', 'severity', 'root_cause']) {
      await pool.query(
        "INSERT INTO incident_timeline (incident_id, at, actor, kind, message) VALUES ($1, $2, 'bench', $3, 'change')",
        [row.id, new Date(start + 60_000), entry],
      );
    }
    out.push(row);
  }
  return out;
}

const rows: string[] = [];
const twoSources = await incidents('bench: two sources + alert', {
  sources: ['api-gateway', 'payment-service'],
  tags: {},
  durationMs: HOUR,
  alert: true,
});
rows.push(
  await measure('timeline, 2 sources + 1 alert series, 2 h window, first page (100)', RUNS, (i) =>
    readTimeline(pool, twoSources[i], { limit: 100, offset: 0 }),
  ),
);
rows.push(
  await measure('timeline, same, page at offset 1000', RUNS, (i) =>
    readTimeline(pool, twoSources[i], { limit: 100, offset: 1000 }),
  ),
);
const tagged = await incidents('bench: tags', {
  sources: ['api-gateway'],
  tags: { environment: 'staging' },
  durationMs: HOUR,
});
rows.push(
  await measure('timeline, 1 source + tag scope (all 50 sources read), first page', RUNS, (i) =>
    readTimeline(pool, tagged[i], { limit: 100, offset: 0 }),
  ),
);
const long = await incidents('bench: one day', {
  sources: ['api-gateway', 'payment-service', 'auth-service'],
  tags: {},
  durationMs: DAY - HOUR,
});
rows.push(
  await measure('timeline, 3 sources, 24 h window, first page', RUNS, (i) =>
    readTimeline(pool, long[i], { limit: 100, offset: 0 }),
  ),
);
rows.push(
  await measure('analysis (sources, tags, request ids, metrics)', RUNS, (i) =>
    analyse(pool, twoSources[i], 'request', meta.anchorMs),
  ),
);
const baselineAt = process.argv.indexOf('--baseline');
if (baselineAt > 0) {
  // The other checkout's analysis, alternated with this one's on the same incidents: a ratio the machine's load
  // affects alike, unlike figures from runs at different times.
  const dir = process.argv[baselineAt + 1];
  const other = (await import(`${dir}/services/incidents/analysis/run.ts`)) as { analyse: typeof analyse };
  const mine: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    for (const [run, into] of (i % 2 === 0
      ? [
          [analyse, mine],
          [other.analyse, theirs],
        ]
      : [
          [other.analyse, theirs],
          [analyse, mine],
        ]) as [typeof analyse, number[]][]) {
      const started = process.hrtime.bigint();
      await run(pool, twoSources[i], 'request', meta.anchorMs);
      into.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  }
  const at = (xs: number[], p: number) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      p,
    ).toFixed(1);
  rows.push(
    `| analysis, this checkout, alternated with ${dir} | ${RUNS} | ${at(mine, 50)} ms | ${at(mine, 99)} ms | ` +
      `${Math.max(...mine).toFixed(1)} ms |`,
  );
  rows.push(
    `| analysis, ${dir} | ${RUNS} | ${at(theirs, 50)} ms | ${at(theirs, 99)} ms | ` +
      `${Math.max(...theirs).toFixed(1)} ms |`,
  );
}
const sample = await analyse(pool, twoSources[0], 'request', meta.anchorMs);
console.error(
  `[incident bench] sample analysis: ${sample.suspects.length} suspects, top ` +
    `${JSON.stringify(sample.suspects.slice(0, 3).map((s) => [s.kind, s.name, s.score]))}, ` +
    `${sample.request_ids.length} crossing request ids`,
);

console.log('\n| scenario | runs | p50 | p99 | max |\n|---|---|---|---|---|\n' + rows.join('\n'));
await pool.end();
