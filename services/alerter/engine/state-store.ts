/**
 * Alert states in PostgreSQL (migration 0003): alert_instances holds every pending or firing instance with its
 * owner partition, alert_transitions every transition (the history, the incidents hand-off and the notification
 * outbox). save() writes queued evaluations' Changes in one transaction with set-based statements (unnest), fenced
 * by the owner generations of alert_partition_owners (claim()), and returns the transitions that need delivering
 * (to firing or resolved) with their ids.
 */
import { inTransaction, type Pool } from '../../../shared/db/pool.ts';
import type { Origin } from '../../../shared/promql/windows.ts';
import type { Changes, InstanceOp, PartialAggregate } from './engine.ts';
import type { Instance, Transition } from './state.ts';

/** A claim of one owner partition: the new generation and the one it replaced (null: none was stored). */
export interface Claim {
  generation: string;
  previous: string | null;
}

export interface SavedTransition extends Transition {
  id: string;
  ruleName: string;
}

interface InstanceRow {
  rule_id: string;
  fingerprint: string;
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  value: number;
  active_at: Date;
  fired_at: Date | null;
  keep_firing_since: Date | null;
  topic: string | null;
  partition: number | null;
}

const ms = (d: Date | null) => (d === null ? null : d.getTime());
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export class StateStore {
  constructor(private readonly pool: Pool) {}

  /** Instances owned by the given partitions, plus the aggregations' (origin null) when `aggregations`. */
  async load(partitions: readonly Origin[], aggregations: boolean): Promise<Instance[]> {
    const { rows } = await this.pool.query<InstanceRow>(
      `SELECT rule_id, fingerprint, labels, state, value, active_at, fired_at, keep_firing_since, topic, partition
         FROM alert_instances
        WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[]))
           OR ($3 AND topic IS NULL)`,
      [partitions.map((p) => p.topic), partitions.map((p) => p.partition), aggregations],
    );
    return rows.map((r) => ({
      ruleId: r.rule_id,
      fingerprint: r.fingerprint,
      labels: r.labels,
      state: r.state,
      value: r.value,
      activeAt: r.active_at.getTime(),
      firedAt: ms(r.fired_at),
      keepFiringSince: ms(r.keep_firing_since),
      origin: r.topic === null || r.partition === null ? null : { topic: r.topic, partition: r.partition },
    }));
  }

  /**
   * Claims partitions (and, with `aggregations`, the aggregations' pseudo-partition) for this member with new
   * generations (alert_partition_owners, migration 0007), keyed like ownerKey(). Call before load(): a claim waits
   * for saves of the previous owner under way, and fences out those that come later. Each claim also tells the
   * generation it replaced (null: none), so a member that re-claims what it held knows whether anyone else
   * claimed in between (then what it holds in memory is stale).
   */
  async claim(partitions: readonly Origin[], aggregations: boolean): Promise<Map<string, Claim>> {
    const owned = [...partitions.map((p) => [p.topic, p.partition] as const), ...(aggregations ? [AGGREGATIONS] : [])];
    if (owned.length === 0) return new Map();
    return inTransaction(this.pool, async (client) => {
      const topics = owned.map((o) => o[0]);
      const numbers = owned.map((o) => o[1]);
      const { rows: before } = await client.query<{ topic: string; partition: number; generation: string }>(
        `SELECT topic, partition, generation FROM alert_partition_owners
          WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[])) FOR UPDATE`,
        [topics, numbers],
      );
      const previous = new Map(before.map((r) => [partitionKey(r.topic, r.partition), r.generation]));
      const { rows } = await client.query<{ topic: string; partition: number; generation: string }>(
        `INSERT INTO alert_partition_owners (topic, partition, generation)
         SELECT topic, partition, nextval('alert_owner_generation_seq')
           FROM unnest($1::text[], $2::int[]) AS u(topic, partition)
         ON CONFLICT (topic, partition) DO UPDATE SET generation = EXCLUDED.generation, claimed_at = now()
         RETURNING topic, partition, generation`,
        [topics, numbers],
      );
      return new Map(
        rows.map((r) => {
          const k = partitionKey(r.topic, r.partition);
          return [k, { generation: r.generation, previous: previous.get(k) ?? null }];
        }),
      );
    });
  }

  /** The stored owner generations of the given partitions (and of the aggregations), keyed like ownerKey(). */
  async owners(partitions: readonly Origin[], aggregations: boolean): Promise<Map<string, string>> {
    const owned = [...partitions.map((p) => [p.topic, p.partition] as const), ...(aggregations ? [AGGREGATIONS] : [])];
    const { rows } = await this.pool.query<{ topic: string; partition: number; generation: string }>(
      `SELECT topic, partition, generation FROM alert_partition_owners
        WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[]))`,
      [owned.map((o) => o[0]), owned.map((o) => o[1])],
    );
    return new Map(rows.map((r) => [partitionKey(r.topic, r.partition), r.generation]));
  }

  /**
   * Saves one or more evaluations' changes. `generation(origin)` is the generation this member holds for the
   * instance's owner partition (undefined: not owned any more); changes of partitions whose stored generation
   * differs are dropped (their new owner recomputes them), and reported to `fenced` with how many there were
   * (instance upserts and transitions), once per owner partition.
   */
  async save(
    changes: Changes,
    ruleNames: (ruleId: string) => string,
    generation: (origin: Origin | null) => string | undefined,
    fenced?: (origin: Origin | null, dropped: number) => void,
  ): Promise<SavedTransition[]> {
    return inTransaction(this.pool, async (client) => {
      const origins = new Map<string, Origin | null>();
      for (const op of changes.ops)
        if (op.kind === 'upsert') origins.set(ownerKey(op.instance.origin), op.instance.origin);
      for (const t of changes.transitions) origins.set(ownerKey(t.origin), t.origin);
      const pairs = [...origins.values()].map((o) => (o === null ? AGGREGATIONS : ([o.topic, o.partition] as const)));
      const { rows: owners } = await client.query<{ topic: string; partition: number; generation: string }>(
        `SELECT topic, partition, generation FROM alert_partition_owners
          WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[])) FOR SHARE`,
        [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
      );
      const stored = new Map(owners.map((r) => [partitionKey(r.topic, r.partition), r.generation]));
      const owns = (origin: Origin | null) => {
        const expected = generation(origin);
        return expected !== undefined && stored.get(ownerKey(origin)) === expected;
      };
      // The last change of an instance wins: one statement may not touch a row twice. A delete carries no origin:
      // it belongs to the owner of the transition that ended the instance (or of the rule change that retired it).
      const ended = new Set(
        changes.transitions.filter((t) => owns(t.origin)).map((t) => `${t.ruleId}/${t.fingerprint}`),
      );
      const last = new Map<string, InstanceOp>();
      for (const op of changes.ops) {
        const key =
          op.kind === 'upsert' ? `${op.instance.ruleId}/${op.instance.fingerprint}` : `${op.ruleId}/${op.fingerprint}`;
        if (op.kind === 'upsert' ? owns(op.instance.origin) : ended.has(key)) last.set(key, op);
      }
      const upserts: Instance[] = [];
      const deletes: [string, string][] = [];
      for (const op of last.values()) {
        if (op.kind === 'upsert') upserts.push(op.instance);
        else deletes.push([op.ruleId, op.fingerprint]);
      }
      const transitions = changes.transitions.filter((t) => owns(t.origin));
      if (fenced) {
        const dropped = new Map<string, { origin: Origin | null; n: number }>();
        const drop = (origin: Origin | null) => {
          const k = ownerKey(origin);
          const entry = dropped.get(k) ?? { origin, n: 0 };
          entry.n++;
          dropped.set(k, entry);
        };
        for (const op of changes.ops) if (op.kind === 'upsert' && !owns(op.instance.origin)) drop(op.instance.origin);
        for (const t of changes.transitions) if (!owns(t.origin)) drop(t.origin);
        for (const { origin, n } of dropped.values()) fenced(origin, n);
      }
      if (deletes.length > 0) {
        await client.query(
          `DELETE FROM alert_instances a USING unnest($1::uuid[], $2::text[]) AS d(rule_id, fingerprint)
            WHERE a.rule_id = d.rule_id AND a.fingerprint = d.fingerprint`,
          [deletes.map((d) => d[0]), deletes.map((d) => d[1])],
        );
      }
      if (upserts.length > 0) {
        // Joined with alert_rules: an instance of a rule deleted meanwhile is not written (no FK failure).
        await client.query(
          `INSERT INTO alert_instances (rule_id, fingerprint, labels, state, value, active_at, fired_at,
             keep_firing_since, topic, partition, updated_at)
           SELECT u.rule_id, u.fingerprint, u.labels, u.state, u.value, u.active_at, u.fired_at, u.keep_firing_since,
             u.topic, u.partition, now()
             FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::text[], $5::float8[], $6::timestamptz[],
               $7::timestamptz[], $8::timestamptz[], $9::text[], $10::int[])
                  AS u(rule_id, fingerprint, labels, state, value, active_at, fired_at, keep_firing_since, topic,
                    partition)
             JOIN alert_rules r ON r.id = u.rule_id
           ON CONFLICT (rule_id, fingerprint) DO UPDATE SET
                  labels = EXCLUDED.labels, state = EXCLUDED.state, value = EXCLUDED.value, active_at =
                    EXCLUDED.active_at,
                  fired_at = EXCLUDED.fired_at, keep_firing_since = EXCLUDED.keep_firing_since, topic = EXCLUDED.topic,
                  partition = EXCLUDED.partition, updated_at = now()`,
          [
            upserts.map((i) => i.ruleId),
            upserts.map((i) => i.fingerprint),
            upserts.map((i) => JSON.stringify(i.labels)),
            upserts.map((i) => i.state),
            upserts.map((i) => i.value),
            upserts.map((i) => iso(i.activeAt)),
            upserts.map((i) => iso(i.firedAt)),
            upserts.map((i) => iso(i.keepFiringSince)),
            upserts.map((i) => i.origin?.topic ?? null),
            upserts.map((i) => i.origin?.partition ?? null),
          ],
        );
      }
      let saved: SavedTransition[] = [];
      if (transitions.length > 0) {
        const t = transitions;
        const names = t.map((x) => ruleNames(x.ruleId));
        // Transitions that notify nobody (to pending or inactive) are delivered by definition.
        const { rows } = await client.query<{ id: string; ord: string }>(
          `INSERT INTO alert_transitions (rule_id, rule_name, fingerprint, labels, from_state, to_state, value,
             active_at, at, delivered_at)
           SELECT rule_id, rule_name, fingerprint, labels, from_state, to_state, value, active_at, at,
                  CASE WHEN to_state IN ('firing', 'resolved') THEN NULL ELSE now() END
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::float8[],
               $8::timestamptz[], $9::timestamptz[])
                  WITH ORDINALITY AS u(rule_id, rule_name, fingerprint, labels, from_state, to_state, value, active_at,
                    at, ord)
            ORDER BY ord
           RETURNING id`,
          [
            t.map((x) => x.ruleId),
            names,
            t.map((x) => x.fingerprint),
            t.map((x) => JSON.stringify(x.labels)),
            t.map((x) => x.from),
            t.map((x) => x.to),
            t.map((x) => x.value),
            t.map((x) => iso(x.activeAt)),
            t.map((x) => iso(x.at)),
          ],
        );
        saved = t
          .map((x, i) => ({ ...x, id: rows[i].id, ruleName: names[i] }))
          .filter((x) => x.to === 'firing' || x.to === 'resolved');
      }
      return saved;
    });
  }

  /**
   * Replaces the partial aggregates of the partitions this member owns (fenced like save(); migration 0008) with
   * `partials`.
   */
  async savePartials(
    partials: readonly PartialAggregate[],
    owned: readonly Origin[],
    generation: (origin: Origin) => string | undefined,
    at: number,
  ): Promise<void> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ topic: string; partition: number; generation: string }>(
        `SELECT topic, partition, generation FROM alert_partition_owners
          WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[])) FOR SHARE`,
        [owned.map((o) => o.topic), owned.map((o) => o.partition)],
      );
      const mine = rows.filter((r) => generation({ topic: r.topic, partition: r.partition }) === r.generation);
      const keys = new Set(mine.map((r) => partitionKey(r.topic, r.partition)));
      await client.query(
        'DELETE FROM alert_partials WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[]))',
        [mine.map((r) => r.topic), mine.map((r) => r.partition)],
      );
      const kept = partials.filter((p) => keys.has(partitionKey(p.origin.topic, p.origin.partition)));
      if (kept.length > 0) {
        await client.query(
          `INSERT INTO alert_partials (rule_id, topic, partition, group_key, labels, sum, count, min, max, at)
           SELECT *, $10::timestamptz FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::jsonb[],
             $6::float8[], $7::bigint[], $8::float8[], $9::float8[])`,
          [
            kept.map((p) => p.ruleId),
            kept.map((p) => p.origin.topic),
            kept.map((p) => p.origin.partition),
            kept.map((p) => p.groupKey),
            kept.map((p) => JSON.stringify(p.labels)),
            kept.map((p) => p.figures.sum),
            kept.map((p) => p.figures.count),
            kept.map((p) => p.figures.min),
            kept.map((p) => p.figures.max),
            new Date(at),
          ],
        );
      }
    });
  }

  /** Every member's partial aggregates written since `since`. */
  async loadPartials(since: number): Promise<PartialAggregate[]> {
    const { rows } = await this.pool.query<{
      rule_id: string;
      topic: string;
      partition: number;
      group_key: string;
      labels: Record<string, string>;
      sum: number;
      count: string;
      min: number;
      max: number;
    }>('SELECT rule_id, topic, partition, group_key, labels, sum, count, min, max FROM alert_partials WHERE at >= $1', [
      new Date(since),
    ]);
    return rows.map((r) => ({
      ruleId: r.rule_id,
      groupKey: r.group_key,
      labels: r.labels,
      origin: { topic: r.topic, partition: r.partition },
      figures: { sum: r.sum, count: Number(r.count), min: r.min, max: r.max },
    }));
  }

  async markDelivered(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(
      'UPDATE alert_transitions SET delivered_at = now() WHERE id = ANY($1::bigint[]) AND delivered_at IS NULL',
      [ids],
    );
  }

  /**
   * Transitions a crash left undelivered, older than `minAgeMs` (younger ones may still be in another alerter's hands).
   */
  async undelivered(minAgeMs: number, limit: number): Promise<SavedTransition[]> {
    const { rows } = await this.pool.query<{
      id: string;
      rule_id: string;
      rule_name: string;
      fingerprint: string;
      labels: Record<string, string>;
      from_state: Transition['from'];
      to_state: Transition['to'];
      value: number | null;
      active_at: Date;
      at: Date;
    }>(
      `SELECT id, rule_id, rule_name, fingerprint, labels, from_state, to_state, value, active_at, at
         FROM alert_transitions
        WHERE delivered_at IS NULL AND created_at < now() - make_interval(secs => $1::float8 / 1000)
        ORDER BY id LIMIT $2`,
      [minAgeMs, limit],
    );
    return rows.map((r) => ({
      id: r.id,
      ruleId: r.rule_id,
      ruleName: r.rule_name,
      fingerprint: r.fingerprint,
      labels: r.labels,
      from: r.from_state,
      to: r.to_state,
      value: r.value,
      activeAt: r.active_at.getTime(),
      at: r.at.getTime(),
      origin: null,
    }));
  }
}

/** The pseudo-partition that stands for the aggregations in alert_partition_owners. */
const AGGREGATIONS = ['', -1] as const;

function partitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/** The key of a partition (or, for null, of the aggregations) in owner maps, in the alerter and in its store. */
export function ownerKey(origin: Origin | null): string {
  return origin === null ? partitionKey(...AGGREGATIONS) : partitionKey(origin.topic, origin.partition);
}
