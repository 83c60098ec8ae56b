/**
 * Consumer offsets kept in PostgreSQL (table consumer_offsets), the writer's source of truth on (re)assignment.
 * Advancing is fenced: it succeeds only if the stored offset is still the one this writer read, so a zombie
 * member that lost its partition in a rebalance cannot commit rows a new owner also commits.
 */
import { inTransaction, type Pool, type PoolClient } from '../../shared/db/pool.ts';

export type ClusterBinding = { outcome: 'same' } | { outcome: 'changed'; previous: string; discarded: number };

export class OffsetFenceError extends Error {
  constructor(topic: string, partition: number) {
    super(`offset of ${topic}[${partition}] moved under us (another writer owns the partition now)`);
    this.name = 'OffsetFenceError';
  }
}

export class OffsetStore {
  constructor(
    private readonly pool: Pool,
    private readonly group: string,
  ) {}

  /**
   * Ties the group's stored offsets to the Kafka cluster they were read from (migration 0010). The first time, the
   * current cluster is recorded (offsets stored before the table existed are kept); when the cluster differs, the
   * group's offsets are discarded, so the writer reads the new cluster's topics from the beginning instead of
   * skipping the records below offsets that belonged to the old one. One transaction, the group's row locked:
   * writers starting together agree.
   */
  async bindCluster(clusterId: string): Promise<ClusterBinding> {
    return inTransaction(this.pool, async (client) => {
      await client.query(
        'INSERT INTO consumer_offset_clusters (consumer_group, cluster_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [this.group, clusterId],
      );
      const { rows } = await client.query<{ cluster_id: string }>(
        'SELECT cluster_id FROM consumer_offset_clusters WHERE consumer_group = $1 FOR UPDATE',
        [this.group],
      );
      const previous = rows[0].cluster_id;
      if (previous === clusterId) return { outcome: 'same' };
      const { rowCount } = await client.query('DELETE FROM consumer_offsets WHERE consumer_group = $1', [this.group]);
      await client.query(
        'UPDATE consumer_offset_clusters SET cluster_id = $2, bound_at = now() WHERE consumer_group = $1',
        [this.group, clusterId],
      );
      return { outcome: 'changed', previous, discarded: rowCount ?? 0 };
    });
  }

  /** The next offset to store for the partition, as PostgreSQL has it now (null: nothing stored yet). */
  async get(topic: string, partition: number): Promise<bigint | null> {
    const { rows } = await this.pool.query<{ next_offset: string }>(
      'SELECT next_offset FROM consumer_offsets WHERE consumer_group = $1 AND topic = $2 AND partition = $3',
      [this.group, topic, partition],
    );
    return rows.length === 0 ? null : BigInt(rows[0].next_offset);
  }

  /** The stored next offsets of the topic's partitions (partitions without one are absent). */
  async ofTopic(topic: string): Promise<Map<number, bigint>> {
    const { rows } = await this.pool.query<{ partition: number; next_offset: string }>(
      'SELECT partition, next_offset FROM consumer_offsets WHERE consumer_group = $1 AND topic = $2',
      [this.group, topic],
    );
    return new Map(rows.map((r) => [r.partition, BigInt(r.next_offset)]));
  }

  /** Inside the caller's transaction: moves the offset from `expected` to `next` or throws OffsetFenceError. */
  async advance(
    client: PoolClient,
    topic: string,
    partition: number,
    expected: bigint | null,
    next: bigint,
  ): Promise<void> {
    const result =
      expected === null
        ? await client.query(
            `INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING`,
            [this.group, topic, partition, next.toString()],
          )
        : await client.query(
            `UPDATE consumer_offsets SET next_offset = $4, updated_at = now()
              WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND next_offset = $5`,
            [this.group, topic, partition, next.toString(), expected.toString()],
          );
    if (result.rowCount !== 1) throw new OffsetFenceError(topic, partition);
  }
}
