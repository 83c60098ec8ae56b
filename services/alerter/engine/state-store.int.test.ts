/**
 * The ownership fence of alert states (migration 0007) against the real PostgreSQL: once another member claimed a
 * partition, the old owner's saves for it are dropped — no overwritten state, no extra transition to notify.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, countRows, type TestContext } from '../../../test/helpers/context.ts';
import type { Changes } from './engine.ts';
import type { Instance } from './state.ts';
import { ownerKey, StateStore } from './state-store.ts';

describe('alert state fence', () => {
  let ctx: TestContext;
  const ruleId = crypto.randomUUID();
  const p0 = { topic: 'metrics', partition: 0 };

  beforeAll(async () => {
    ctx = await createTestContext();
    await ctx.db.query(`INSERT INTO alert_rules (id, name, query) VALUES ($1, 'r', 'x > 1')`, [ruleId]);
  });
  afterAll(() => ctx?.cleanup());

  const instance = (state: 'pending' | 'firing', value: number): Instance => ({
    ruleId,
    fingerprint: 'f1',
    labels: { host: 'a' },
    state,
    value,
    activeAt: 1000,
    firedAt: state === 'firing' ? 2000 : null,
    keepFiringSince: null,
    origin: p0,
  });
  const changes = (i: Instance, from: 'inactive' | 'pending', at: number): Changes => ({
    ops: [{ kind: 'upsert', instance: i }],
    transitions: [
      {
        ruleId,
        fingerprint: 'f1',
        labels: i.labels,
        from,
        to: i.state,
        value: i.value,
        activeAt: 1000,
        at,
        origin: p0,
      },
    ],
  });

  it('drops the saves of a member whose partition was claimed by another', async () => {
    const a = new StateStore(ctx.db);
    const b = new StateStore(ctx.db);
    const genA = (await a.claim([p0], false)).get('metrics:0')!.generation;
    await a.save(
      changes(instance('pending', 5), 'inactive', 1000),
      () => 'r',
      () => genA,
    );
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM alert_transitions')).toBe(1);

    const genB = (await b.claim([p0], true)).get('metrics:0')!.generation;
    expect(BigInt(genB)).toBeGreaterThan(BigInt(genA));
    expect(await b.load([p0], true)).toEqual([instance('pending', 5)]);
    // A, late: its firing is fenced out, and reported as such; B's own is saved.
    const fenced: [unknown, number][] = [];
    const late = await a.save(
      changes(instance('firing', 6), 'pending', 2000),
      () => 'r',
      () => genA,
      (o, n) => {
        fenced.push([o, n]);
      },
    );
    expect(late).toEqual([]);
    expect(fenced).toEqual([[p0, 2]]);
    const saved = await b.save(
      changes(instance('firing', 7), 'pending', 2000),
      () => 'r',
      () => genB,
    );
    expect(saved.map((t) => [t.from, t.to, t.value])).toEqual([['pending', 'firing', 7]]);
    const { rows } = await ctx.db.query('SELECT state, value FROM alert_instances');
    expect(rows).toEqual([{ state: 'firing', value: 7 }]);
    expect(await countRows(ctx.db, 'SELECT count(*) AS n FROM alert_transitions')).toBe(2);
  });

  it("tells each claim the generation it replaced: the member's own when nobody claimed in between", async () => {
    const a = new StateStore(ctx.db);
    const p1 = { topic: 'metrics', partition: 1 };
    const first = (await a.claim([p1], false)).get('metrics:1')!;
    expect(first.previous).toBeNull();
    const again = (await a.claim([p1], false)).get('metrics:1')!;
    expect(again.previous).toBe(first.generation);
    expect(BigInt(again.generation)).toBeGreaterThan(BigInt(first.generation));
    const other = (await new StateStore(ctx.db).claim([p1], true)).get('metrics:1')!;
    const mine = (await a.claim([p1], false)).get('metrics:1')!;
    expect(mine.previous).toBe(other.generation);
    expect(await a.owners([p1], true)).toEqual(
      new Map([
        ['metrics:1', mine.generation],
        [ownerKey(null), expect.any(String)],
      ]),
    );
  });
});
