/**
 * The AuditLog's bounds and buffering, against a stand-in for the pool that records the one INSERT per flush (or
 * fails it): aggregation of refusals, the fold beyond MAX_AGGREGATES keys, the pending bound, and a failed flush
 * keeping its rows. test/audit.test.ts covers the same against PostgreSQL end to end.
 */
import { describe, expect, it } from 'vitest';
import type { Pool } from '../db/pool.ts';
import { createLogger } from '../logger.ts';
import { Registry } from '../metrics.ts';
import { AuditLog, MAX_AGGREGATES, MAX_PENDING_ROWS } from './audit-log.ts';

function setup() {
  const inserts: unknown[][][] = [];
  let failing = false;
  const pool = {
    query: async (_sql: string, values: unknown[][]) => {
      if (failing) throw new Error('connection refused');
      inserts.push(values);
      return { rows: [], rowCount: values[0].length };
    },
  } as unknown as Pool;
  const registry = new Registry();
  const log = new AuditLog(pool, createLogger('silent', 'test'), registry, 60_000);
  const dropped = async () =>
    (await registry.getSingleMetric('vigil_audit_entries_dropped_total')!.get()).values.map((v) => [
      v.labels.kind,
      v.value,
    ]);
  return { log, inserts, dropped, fail: (on: boolean) => (failing = on) };
}

const refusal = (ip: string) => ({
  action: 'auth.unauthorized',
  actor: null,
  role: null,
  ip,
  target: 'GET /x',
  details: { code: 'C' },
});

describe('AuditLog', () => {
  it('writes one INSERT per flush, refusals of one key as one row with their count, first and last time', async () => {
    const { log, inserts } = setup();
    log.record(
      {
        action: 'incident.create',
        actor: 'alice',
        role: 'user',
        ip: '10.0.0.1',
        target: 'i-1',
        details: { title: 't' },
      },
      new Date(1000),
    );
    for (let i = 0; i < 5; i++) log.count(refusal('10.0.0.2'), new Date(2000 + i));
    log.count(refusal('10.0.0.3'), new Date(3000));
    await log.flush();
    await log.flush(); // nothing left: no statement
    expect(inserts).toHaveLength(1);
    const [at, lastAt, action, actor, role, ip, target, count, details] = inserts[0];
    expect({ at, lastAt, action, actor, role, ip, target, count, details }).toEqual({
      at: [new Date(1000), new Date(2000), new Date(3000)],
      lastAt: [new Date(1000), new Date(2004), new Date(3000)],
      action: ['incident.create', 'auth.unauthorized', 'auth.unauthorized'],
      actor: ['alice', null, null],
      role: ['user', null, null],
      ip: ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
      target: ['i-1', 'GET /x', 'GET /x'],
      count: [1, 5, 1],
      details: ['{"title":"t"}', '{"code":"C"}', '{"code":"C"}'],
    });
  });

  it('folds refusals beyond MAX_AGGREGATES keys into one row per action with ip "*", keeping the count', async () => {
    const { log, inserts } = setup();
    for (let i = 0; i < MAX_AGGREGATES + 50; i++) log.count(refusal(`10.1.${i >> 8}.${i & 255}`));
    await log.flush();
    const [, , , , , ip, , count] = inserts[0] as string[][];
    expect(ip).toHaveLength(MAX_AGGREGATES + 1);
    expect(ip.at(-1)).toBe('*');
    expect((count as unknown as number[]).at(-1)).toBe(50);
    expect((count as unknown as number[]).reduce((a, b) => a + b, 0)).toBe(MAX_AGGREGATES + 50);
  });

  it('holds at most MAX_PENDING_ROWS actions, counting what it drops; a failed flush keeps its rows', async () => {
    const { log, inserts, dropped, fail } = setup();
    const entry = { action: 'alert_rule.update', actor: 'mod', role: 'moderator', ip: null, target: 'r-1' };
    for (let i = 0; i < MAX_PENDING_ROWS + 3; i++) log.record(entry);
    expect(await dropped()).toEqual([['action', 3]]);
    fail(true);
    await log.flush();
    expect(inserts).toHaveLength(0);
    fail(false);
    await log.stop();
    expect(inserts).toHaveLength(1);
    expect(inserts[0][0]).toHaveLength(MAX_PENDING_ROWS);
  });
});
