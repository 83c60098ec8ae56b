/**
 * METRICS_MAX_SERIES_PER_NAME, enforced by the writer inside the batch transaction: the distinct series (name,
 * series fingerprint) it stored are registered in metric_series_registry (migration 0013); a sample of a series not
 * registered yet is stored only while its name has fewer than the limit, and otherwise goes to the DLQ with reason
 * `series_limit` and a detail naming the metric. Enforced here rather than at the gateway because only the writer
 * sees every sample (HTTP, OTLP, remote_write and direct Kafka producers alike) and shares one registry with the
 * other writers; the gateway has already answered 202 (its answer means "durably in Kafka"), so an operator sees
 * refusals as dead letters (`vigil_dlq_records_total{reason="series_limit"}`) and in the writer's warning log.
 *
 * Registrations older than the metric retention are deleted by the maintenance role (a series still sending registers
 * again: this process forgets what it knows every hour).
 *
 * Cost: samples of series known to this process (an in-memory set, bounded) cost nothing. A batch with others
 * locks their names' counters in metric_series_counts until COMMIT (so two batches adding series of one name — from
 * any writer — cannot both take its last slot: the limit is exact), then one statement finds which are new,
 * registers those within the limit and moves the counters. Batches that bring series new to the process are thus
 * serialized per metric name while they last (a burst of new series, a restart); in steady state series are known
 * and nothing is locked.
 */
import type { PoolClient } from '../../shared/db/pool.ts';

/** Series remembered as registered by this process; the set starts over when it reaches this size or age. */
const KNOWN_SERIES_MAX = 1_000_000;
/** Registrations expire (maintenance); forgetting them this often makes an expired series register again. */
const KNOWN_SERIES_MAX_AGE_MS = 3_600_000;

export interface SeriesRef {
  name: string;
  fingerprint: string;
}

export interface Admission {
  /** Keys (seriesKey) of the series refused, with the count of their name's registered series. */
  refused: Map<string, number>;
  /** Series registered in this transaction: remember() them once it committed. */
  registered: string[];
}

export const seriesKey = (s: SeriesRef) => `${s.name}\u0000${s.fingerprint}`;

export class SeriesLimit {
  private known = new Set<string>();
  private knownSince = Date.now();

  constructor(readonly maxPerName: number) {}

  /** Registers the new series of the batch that fit under the limit; answers those that do not. */
  async admit(client: PoolClient, series: readonly SeriesRef[]): Promise<Admission> {
    if (Date.now() - this.knownSince > KNOWN_SERIES_MAX_AGE_MS) this.forget();
    const unknown = new Map<string, SeriesRef>();
    for (const s of series) {
      const key = seriesKey(s);
      if (!this.known.has(key) && !unknown.has(key)) unknown.set(key, s);
    }
    const admission: Admission = { refused: new Map(), registered: [] };
    if (unknown.size === 0) return admission;
    const names = [...new Set([...unknown.values()].map((s) => s.name))].sort();
    // Locks the names' counters (in name order: two writers cannot deadlock) and reads them; held until COMMIT.
    const { rows: counts } = await client.query<{ name: string; series: string }>(
      `INSERT INTO metric_series_counts AS c (name, series) SELECT n, 0 FROM unnest($1::text[]) AS n ORDER BY n
       ON CONFLICT (name) DO UPDATE SET series = c.series RETURNING name, series`,
      [names],
    );
    const refs = [...unknown.values()];
    // The series not registered yet, numbered per name after the registered ones; those within the limit are
    // registered and counted.
    const { rows } = await client.query<{ name: string; fingerprint: string; registered: string; admitted: boolean }>(
      `WITH input AS (
         SELECT DISTINCT name, fingerprint FROM unnest($1::text[], $2::text[]) AS u(name, fingerprint)
       ), fresh AS (
         SELECT i.name, i.fingerprint FROM input i
          WHERE NOT EXISTS (SELECT 1 FROM metric_series_registry r WHERE r.name = i.name AND r.fingerprint =
            i.fingerprint)
       ), ranked AS (
         SELECT f.name, f.fingerprint, c.series AS registered,
                c.series + row_number() OVER (PARTITION BY f.name ORDER BY f.fingerprint) AS nth
           FROM fresh f JOIN unnest($3::text[], $4::bigint[]) AS c(name, series) ON c.name = f.name
       ), inserted AS (
         INSERT INTO metric_series_registry (name, fingerprint) SELECT name, fingerprint FROM ranked WHERE nth <= $5
         ON CONFLICT DO NOTHING RETURNING name
       ), counted AS (
         UPDATE metric_series_counts c SET series = c.series + i.n
           FROM (SELECT name, count(*) AS n FROM inserted GROUP BY name) i WHERE c.name = i.name
       )
       SELECT name, fingerprint, registered, nth <= $5 AS admitted FROM ranked`,
      [
        refs.map((s) => s.name),
        refs.map((s) => s.fingerprint),
        counts.map((c) => c.name),
        counts.map((c) => c.series),
        this.maxPerName,
      ],
    );
    for (const row of rows) {
      const key = seriesKey(row);
      unknown.delete(key);
      // Refused: the name holds the limit (or more, when the limit was lowered).
      if (!row.admitted) admission.refused.set(key, Math.max(this.maxPerName, Number(row.registered)));
      else admission.registered.push(key);
    }
    admission.registered.push(...unknown.keys()); // registered before
    return admission;
  }

  /** The transaction that registered these series committed: later batches skip the lookup. */
  remember(keys: readonly string[]): void {
    if (this.known.size + keys.length > KNOWN_SERIES_MAX) this.forget();
    for (const key of keys) this.known.add(key);
  }

  private forget(): void {
    this.known = new Set();
    this.knownSince = Date.now();
  }
}
