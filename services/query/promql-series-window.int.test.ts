/**
 * The series, labels and label values endpoints honour `start` and `end`: a series is listed when it has samples
 * in the window, before its samples are folded into metric_series (the unfolded tail) and after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';
import { insertSamples } from '../../test/helpers/rows.ts';
import type { QueryHandle } from './index.ts';

const HOUR = 3_600_000;

describe('Prometheus series, labels and label values within [start, end]', () => {
  let ctx: TestContext;
  let api: Runtime;
  let token: string;
  const base = Math.floor((Date.now() - 6 * HOUR) / 60_000) * 60_000;
  const s = (ms: number) => String((base + ms) / 1000);

  const get = async (url: string) => {
    const res = await api.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    return { status: res.statusCode, body: res.json() };
  };
  const success = (data: unknown) => ({ status: 200, body: { status: 'success', data } });

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('query', { QUERY_FOLD_INTERVAL_SECONDS: '3600' });
    token = ctx.token('user', 'grafana');
    await insertSamples(ctx.db, [
      { timestamp: base, name: 'win_gauge', metric_type: 'gauge', value: 1, labels: { host: 'early' } },
      { timestamp: base + 10 * 60_000, name: 'win_gauge', metric_type: 'gauge', value: 2, labels: { host: 'early' } },
      {
        timestamp: base + 3 * HOUR,
        name: 'win_gauge',
        metric_type: 'gauge',
        value: 3,
        labels: { host: 'late', zone: 'z1' },
      },
      {
        timestamp: base + 3 * HOUR + 600_000,
        name: 'win_gauge',
        metric_type: 'gauge',
        value: 4,
        labels: { host: 'late', zone: 'z1' },
      },
    ]);
  });

  afterAll(async () => {
    await ctx?.cleanup();
  });

  const early = { __name__: 'win_gauge', host: 'early' };
  const late = { __name__: 'win_gauge', host: 'late', zone: 'z1' };
  const cases: { window: string; series: object[]; labels: string[]; hosts: string[] }[] = [
    { window: `start=${s(HOUR)}&end=${s(2 * HOUR)}`, series: [], labels: [], hosts: [] },
    {
      window: `start=${s(2 * HOUR)}&end=${s(4 * HOUR)}`,
      series: [late],
      labels: ['__name__', 'host', 'zone'],
      hosts: ['late'],
    },
    { window: `end=${s(HOUR)}`, series: [early], labels: ['__name__', 'host'], hosts: ['early'] },
    { window: `start=${s(-HOUR)}&end=${s(0)}`, series: [early], labels: ['__name__', 'host'], hosts: ['early'] },
    { window: `start=${s(3 * HOUR + 600_000)}`, series: [late], labels: ['__name__', 'host', 'zone'], hosts: ['late'] },
    {
      window: `start=${s(-HOUR)}&end=${s(5 * HOUR)}`,
      series: [early, late],
      labels: ['__name__', 'host', 'zone'],
      hosts: ['early', 'late'],
    },
    { window: '', series: [early, late], labels: ['__name__', 'host', 'zone'], hosts: ['early', 'late'] },
  ];

  async function expectWindows(): Promise<void> {
    for (const c of cases) {
      expect({ window: c.window, ...(await get(`/prometheus/api/v1/series?match[]=win_gauge&${c.window}`)) }).toEqual({
        window: c.window,
        ...success(c.series),
      });
      expect({ window: c.window, ...(await get(`/prometheus/api/v1/labels?${c.window}`)) }).toEqual({
        window: c.window,
        ...success(c.labels),
      });
      expect({ window: c.window, ...(await get(`/prometheus/api/v1/label/host/values?${c.window}`)) }).toEqual({
        window: c.window,
        ...success(c.hosts),
      });
    }
  }

  it('lists only the series with samples in the window while the samples are not folded yet', async () => {
    await expectWindows();
  });

  it('lists the same once the samples are folded into the per-series state', async () => {
    const fold = await (api.roles.find((r) => r.name === 'query') as QueryHandle).fold.foldNow();
    expect(fold.folded).toBe(true);
    await expectWindows();
  });
});
