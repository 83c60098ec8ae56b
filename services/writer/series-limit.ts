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
 * Cost: samples of series known to this process (an in-memory set, bounded) cost nothing; the others one indexed
 * lookup per batch; only new series take a transaction-level advisory lock per metric name (so two writers adding
 * series of one name cannot both take the last slot) and a count of the name's registered series.
 */
import type { PoolClient } from '../../shared/db/pool.ts';

/** Series remembered as registered by this process; the set starts over when it reaches this size or age. */
const KNOWN_SERIES_MAX = 1_000_000;
/** Registrations expire (maintenance); forgetting them this often makes an expired series register again. */
const KNOWN_SERIES_MAX_AGE_MS = 3_600_000;
const LOCK_NAMESPACE = 'vigil-series:';

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
    const names = [...new Set([...unknown.values()].map((s) => s.name))];
    // Locked before reading, so what is read cannot change until COMMIT (ordered: two writers cannot deadlock).
    await client.query(
      `SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtext($2 || n) AS k FROM unnest($1::text[]) AS n ORDER BY k) AS locks`,
      [names, LOCK_NAMESPACE],
    );
    const refs = [...unknown.values()];
    const { rows: found } = await client.query<{ name: string; fingerprint: string }>(
      `SELECT r.name, r.fingerprint FROM metric_series_registry r
         JOIN unnest($1::text[], $2::text[]) AS u(name, fingerprint) ON r.name = u.name AND r.fingerprint = u.fingerprint`,
      [refs.map((s) => s.name), refs.map((s) => s.fingerprint)],
    );
    for (const row of found) {
      const key = seriesKey(row);
      unknown.delete(key);
      admission.registered.push(key);
    }
    if (unknown.size === 0) return admission;
    const { rows: counts } = await client.query<{ name: string; n: string }>(
      'SELECT name, count(*) AS n FROM metric_series_registry WHERE name = ANY($1::text[]) GROUP BY name',
      [[...new Set([...unknown.values()].map((s) => s.name))]],
    );
    const used = new Map(counts.map((c) => [c.name, Number(c.n)]));
    const admitted: SeriesRef[] = [];
    for (const [key, s] of unknown) {
      const n = used.get(s.name) ?? 0;
      if (n >= this.maxPerName) {
        admission.refused.set(key, n);
        continue;
      }
      used.set(s.name, n + 1);
      admitted.push(s);
      admission.registered.push(key);
    }
    if (admitted.length > 0) {
      await client.query(
        `INSERT INTO metric_series_registry (name, fingerprint) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`,
        [admitted.map((s) => s.name), admitted.map((s) => s.fingerprint)],
      );
    }
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
