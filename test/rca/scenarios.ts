/**
 * Labelled outages for the root-cause analysis: deterministic (seeded) generators of the events and metric samples
 * that eight services would send around an incident whose cause is known, in the shapes real outages take.
 *
 * Every scenario spans 2 h 40 min around its incident start T (the analysis reads the 2.5 h before T and request
 * ids up to 10 min after): each service logs ~30 events a minute (a parameter) on three hosts with a small
 * baseline error ratio, and reports a per-host latency gauge every minute. Then:
 *   - the culprit starts failing at its onset t0 (6–20 min before T), its errors concentrated on one host (or one
 *     version, after a deploy); in half the outages (and in every metric-only one) its latency on that host rises
 *     a minute before;
 *   - two victims (its callers) start failing one to two minutes later, more loudly than the culprit in most
 *     families; where the culprit carries request ids, every culprit error's request id is logged again by a
 *     victim after the culprit (the culprit logged first), and the victims' own extra errors share ids with each
 *     other (the first victim logged first): culprit → victim 1 → victim 2;
 *   - a noisy service errs at a high, constant ratio all along; a blip service errs briefly 2–4 min before T;
 *   - background services stay quiet.
 * Families change one thing each: how loud the origin is, whether its cause shows only in a metric, whether a
 * deploy marker precedes it, which sources carry request ids, and whether the incident declares a scope.
 */

export const FAMILIES = [
  'cascade-loud-origin',
  'cascade-quiet-origin',
  'metric-cause',
  'deploy',
  'partial-request-ids',
  'scoped',
] as const;
export type Family = (typeof FAMILIES)[number];

export interface ScenarioEvent {
  timestamp: string;
  event_type: 'log';
  source: string;
  level: 'info' | 'warn' | 'error';
  message: string;
  tags: Record<string, string>;
}

export interface ScenarioSample {
  timestamp: string;
  name: string;
  metric_type: 'gauge';
  value: number;
  labels: Record<string, string>;
}

export interface Scenario {
  id: string;
  family: Family;
  seed: number;
  /** The incident's start (what an alert on a victim would say). */
  startMs: number;
  culprit: string;
  /** The tag (or metric label) value the cause concentrates on: a host, or the version just deployed. */
  culpritTag: { key: string; value: string };
  victims: string[];
  /** The incident's declared scope, when the family declares one (a victim: where the alert fired). */
  scope?: { sources: string[] };
  events: ScenarioEvent[];
  samples: ScenarioSample[];
}

const SERVICES = ['edge', 'api', 'checkout', 'payments', 'inventory', 'db', 'search', 'mailer'];
const MINUTE_MS = 60_000;
const BASELINE_FROM_MIN = -150;
const CROSS_TO_MIN = 10;
const EVENTS_PER_MINUTE = 30;
const BASE_ERROR_RATIO = 0.005;
const NOISY_ERROR_RATIO = 0.15;
const LATENCY_MS = 50;
const LATENCY_SPREAD_MS = 5;

/** mulberry32: a small, fast, seeded PRNG (the suite must be the same on every run). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function shuffled<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const between = (random: () => number, lo: number, hi: number) => lo + (hi - lo) * random();
const gauss = (random: () => number) => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

interface Plan {
  family: Family;
  culprit: string;
  victims: [string, string];
  noisy: string;
  blip: string;
  t0: number;
  victimOnsets: [number, number];
  culpritRatio: number;
  victimRatio: number;
  culpritLogsErrors: boolean;
  /** Whether the culprit's latency on its failing host rises (always where the cause shows only in a metric). */
  culpritLatencyMoves: boolean;
  idsBy: Set<string>;
  deployAt: number | null;
  herringDeploy: { source: string; at: number } | null;
}

function plan(family: Family, random: () => number, startMs: number): Plan {
  const [culprit, v1, v2, noisy, blip, ...rest] = shuffled(SERVICES, random);
  const t0 = startMs - Math.round(between(random, 6, 20)) * MINUTE_MS - Math.floor(random() * 60) * 1000;
  const lag1 = Math.round(between(random, 60, 120)) * 1000;
  const lag2 = lag1 + Math.round(between(random, 0, 60)) * 1000;
  const quiet = family !== 'cascade-loud-origin';
  let idsBy = new Set(SERVICES);
  if (family === 'partial-request-ids') {
    // Half the outages: the culprit carries no request ids (only onsets and tags point at it); the other half: only
    // the culprit and one victim do.
    idsBy = random() < 0.5 ? new Set(SERVICES.filter((s) => s !== culprit)) : new Set([culprit, v1]);
  }
  return {
    family,
    culprit,
    victims: [v1, v2],
    noisy,
    blip,
    t0,
    victimOnsets: [t0 + lag1, t0 + lag2],
    culpritRatio: quiet ? between(random, 0.05, 0.15) : between(random, 0.3, 0.4),
    victimRatio: quiet ? between(random, 0.2, 0.4) : between(random, 0.1, 0.2),
    culpritLogsErrors: family !== 'metric-cause',
    culpritLatencyMoves: family === 'metric-cause' || random() < 0.5,
    idsBy,
    deployAt: family === 'deploy' ? t0 - Math.round(between(random, 1, 3)) * MINUTE_MS : null,
    herringDeploy: family === 'deploy' ? { source: rest[0], at: startMs - 25 * MINUTE_MS } : null,
  };
}

/** One scenario of `family` with incident start `startMs`; the same (family, seed, startMs) gives the same data. */
export function generate(family: Family, seed: number, startMs: number, eventsPerMinute = EVENTS_PER_MINUTE): Scenario {
  const random = prng(seed * 7919 + FAMILIES.indexOf(family));
  const p = plan(family, random, startMs);
  const id = `${family}-${seed}`;
  const culpritHost = `${p.culprit}-${1 + Math.floor(random() * 3)}`;
  const culpritTag = family === 'deploy' ? { key: 'version', value: 'v2.0.0' } : { key: 'host', value: culpritHost };
  const events: ScenarioEvent[] = [];
  const samples: ScenarioSample[] = [];
  let requestSeq = 0;
  const rid = () => `${id}-r${requestSeq++}`;
  const from = startMs + BASELINE_FROM_MIN * MINUTE_MS;
  const to = startMs + CROSS_TO_MIN * MINUTE_MS;
  const version = (source: string, t: number) =>
    p.deployAt !== null && source === p.culprit && t >= p.deployAt ? 'v2.0.0' : 'v1.9.3';

  const log = (
    source: string,
    t: number,
    level: ScenarioEvent['level'],
    message: string,
    host: string,
    requestId?: string,
  ) => {
    const tags: Record<string, string> = { env: 'prod', host, version: version(source, t) };
    if (requestId !== undefined && p.idsBy.has(source)) tags.request_id = requestId;
    events.push({ timestamp: new Date(t).toISOString(), event_type: 'log', source, level, message, tags });
  };
  const anyHost = (source: string) => `${source}-${1 + Math.floor(random() * 3)}`;

  for (let minute = from; minute < to; minute += MINUTE_MS) {
    for (const source of SERVICES) {
      for (let i = 0; i < eventsPerMinute; i++) {
        const t = minute + Math.floor(random() * MINUTE_MS);
        let ratio = source === p.noisy ? NOISY_ERROR_RATIO : BASE_ERROR_RATIO;
        const blipping = source === p.blip && t >= startMs - 4 * MINUTE_MS && t < startMs - 2.5 * MINUTE_MS;
        if (blipping) ratio = 0.5;
        const level = random() < ratio ? 'error' : random() < 0.02 ? 'warn' : 'info';
        log(
          source,
          t,
          level,
          level === 'error' ? `${source}: request failed` : `${source}: request served`,
          anyHost(source),
          rid(),
        );
      }
      for (let h = 1; h <= 3; h++) {
        const host = `${source}-${h}`;
        let value = LATENCY_MS + LATENCY_SPREAD_MS * gauss(random);
        if (p.culpritLatencyMoves && source === p.culprit && host === culpritHost && minute >= p.t0 - MINUTE_MS)
          value += 200 + 20 * gauss(random);
        const vi = p.victims.indexOf(source);
        if (vi >= 0 && minute >= p.victimOnsets[vi]) value += 60 + 10 * gauss(random);
        samples.push({
          timestamp: new Date(minute).toISOString(),
          name: 'latency_ms',
          metric_type: 'gauge',
          value: Math.round(value * 100) / 100,
          labels: { service: source, host },
        });
      }
    }
    // The outage: culprit failures (each request id then logged by the victims, later), and the victims' own.
    if (minute + MINUTE_MS <= p.t0) continue;
    const culpritFailures = Math.round(
      (eventsPerMinute * p.culpritRatio * between(random, 0.8, 1.2)) / (1 - p.culpritRatio),
    );
    for (let i = 0; i < culpritFailures; i++) {
      const t = minute + Math.floor(random() * MINUTE_MS);
      if (t < p.t0 || t >= to) continue;
      const r = rid();
      const host = random() < 0.9 ? culpritHost : anyHost(p.culprit);
      if (p.culpritLogsErrors) log(p.culprit, t, 'error', `${p.culprit}: query timed out`, host, r);
      p.victims.forEach((victim, vi) => {
        if (t < p.victimOnsets[vi] || (vi === 1 && random() < 0.5)) return;
        log(
          victim,
          t + Math.round(between(random, 30, 900)) * (vi + 1),
          'error',
          `${victim}: upstream ${p.culprit} failed`,
          anyHost(victim),
          r,
        );
      });
    }
    const [v1, v2] = p.victims;
    if (minute + MINUTE_MS > p.victimOnsets[0]) {
      const extra = Math.round((eventsPerMinute * p.victimRatio * between(random, 0.8, 1.2)) / (1 - p.victimRatio));
      for (let i = 0; i < extra; i++) {
        const t = minute + Math.floor(random() * MINUTE_MS);
        if (t < p.victimOnsets[0] || t >= to) continue;
        const r = rid();
        log(v1, t, 'error', `${v1}: retries exhausted`, anyHost(v1), r);
        if (t + 1000 >= p.victimOnsets[1])
          log(v2, t + Math.round(between(random, 50, 900)), 'error', `${v2}: dependency ${v1} failed`, anyHost(v2), r);
      }
    }
  }
  if (p.deployAt !== null) log(p.culprit, p.deployAt, 'info', `${p.culprit}: deployed v2.0.0`, culpritHost);
  if (p.deployAt !== null) events[events.length - 1].tags.deploy = 'v2.0.0';
  if (p.herringDeploy) {
    log(
      p.herringDeploy.source,
      p.herringDeploy.at,
      'info',
      `${p.herringDeploy.source}: deployed v1.9.4`,
      anyHost(p.herringDeploy.source),
    );
    events[events.length - 1].tags.deploy = 'v1.9.4';
  }
  events.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
  return {
    id,
    family,
    seed,
    startMs,
    culprit: p.culprit,
    culpritTag,
    victims: [...p.victims],
    scope: family === 'scoped' ? { sources: [p.victims[0]] } : undefined,
    events,
    samples,
  };
}

/**
 * `perFamily` scenarios of every family (seeds firstSeed, firstSeed + 1, …), the i-th overall starting `spacingMs`
 * before the previous one.
 */
export function suite(perFamily: number, newestStartMs: number, firstSeed = 1, spacingMs = 3 * 3_600_000): Scenario[] {
  const out: Scenario[] = [];
  for (let seed = firstSeed; seed < firstSeed + perFamily; seed++) {
    for (const family of FAMILIES) out.push(generate(family, seed, newestStartMs - out.length * spacingMs));
  }
  return out;
}

export interface Verdict {
  top1: boolean;
  top3: boolean;
  tagNamed: boolean;
  first: string | null;
}

interface RankedSuspect {
  kind: string;
  name: string;
  evidence: Record<string, unknown>;
}

/** Whether a suspect points at the culprit: its source, a tag value of its source, or a metric series of it. */
export function namesCulprit(s: RankedSuspect, culprit: string): boolean {
  if (s.kind === 'source') return s.name === culprit;
  if (s.kind === 'tag') return s.evidence.source === culprit;
  if (s.kind === 'metric') return (s.evidence.labels as Record<string, string> | undefined)?.service === culprit;
  return false;
}

/** How an analysis fared on a scenario: culprit first, in the first three, its tag value among the first five. */
export function judge(scenario: Scenario, suspects: RankedSuspect[]): Verdict {
  const hit = suspects.map((s) => namesCulprit(s, scenario.culprit));
  const { key, value } = scenario.culpritTag;
  const tagNamed = suspects
    .slice(0, 5)
    .some(
      (s) =>
        (s.kind === 'tag' &&
          s.evidence.source === scenario.culprit &&
          s.evidence.key === key &&
          s.evidence.value === value) ||
        (s.kind === 'metric' && (s.evidence.labels as Record<string, string> | undefined)?.[key] === value),
    );
  return {
    top1: hit[0] === true,
    top3: hit.slice(0, 3).some(Boolean),
    tagNamed,
    first: suspects[0] ? `${suspects[0].kind} ${suspects[0].name}` : null,
  };
}
