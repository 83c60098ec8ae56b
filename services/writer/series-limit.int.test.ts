/**
 * METRICS_MAX_SERIES_PER_NAME through the gateway, Kafka and the writer: a metric name stores samples of at most
 * that many distinct label sets; samples of further series are dead-lettered with reason `series_limit` and a
 * detail naming the metric, while known series and other names keep being stored — also after a restart (the
 * registry is in PostgreSQL, not in the writer's memory).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { countRows, createTestContext, waitFor, type TestContext } from '../../test/helpers/context.ts';
import { loadCodecs } from '../../shared/schemas/avro.ts';
import { awaitRecords, type ReadRecord } from '../../test/helpers/read-topic.ts';

const metricCodec = loadCodecs().get('Metric')!;
/** The host label of a dead-lettered sample (the gateway's Avro item, alone). */
const hostOf = (l: ReadRecord) =>
  (metricCodec.decode(l.value!, l.headers['vigil-schema']) as { labels: Record<string, string> }).labels.host;

describe('series per metric name', () => {
  let ctx: TestContext;
  let gateway: Runtime;

  beforeAll(async () => {
    ctx = await createTestContext({ METRICS_MAX_SERIES_PER_NAME: '5' });
    gateway = await ctx.start('gateway');
  });
  afterAll(() => ctx?.cleanup());

  const post = async (samples: { name: string; host: string }[]) => {
    const res = await gateway.app.inject({
      method: 'POST',
      url: '/api/v1/monitoring/metrics',
      headers: { authorization: `Bearer ${ctx.token('user')}` },
      payload: {
        metrics: samples.map((s) => ({ name: s.name, metric_type: 'gauge', value: 1, labels: { host: s.host } })),
      },
    });
    expect(res.statusCode, res.body).toBe(202);
  };
  const hosts = (name: string, from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => ({ name, host: `h${from + i}` }));
  const seriesOf = async (name: string) =>
    (
      await ctx.db.query(
        "SELECT labels->>'host' AS host, count(*)::int AS n FROM metrics WHERE name = $1 GROUP BY 1 ORDER BY 1",
        [name],
      )
    ).rows;

  it("stores at most the limit of series per name, dead-letters the others' samples naming the metric", async () => {
    const writer = await ctx.start('writer');
    await post([...hosts('req_total', 0, 8), ...hosts('other', 0, 3)]);
    await waitFor(
      () => countRows(ctx.db, 'SELECT count(*) AS n FROM metrics'),
      (n) => n === 8,
    );
    const letters = await awaitRecords(ctx.kafkajs, ctx.config.kafka.topics.dlq, 3);
    expect(letters.map((l) => [l.headers['vigil-dlq-reason'], l.headers['vigil-dlq-detail']])).toEqual(
      Array(3).fill([
        'series_limit',
        'metric "req_total" already has 5 series, the limit METRICS_MAX_SERIES_PER_NAME=5: samples of a new label ' +
          'set are not stored',
      ]),
    );
    const refused = letters.map(hostOf).sort();
    expect((await seriesOf('req_total')).map((r) => r.host).sort()).toEqual(
      ['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'].filter((h) => !refused.includes(h)),
    );
    expect(await seriesOf('other')).toEqual([
      { host: 'h0', n: 1 },
      { host: 'h1', n: 1 },
      { host: 'h2', n: 1 },
    ]);
    expect(await countRows(ctx.db, "SELECT count(*) AS n FROM metric_series_registry WHERE name = 'req_total'")).toBe(
      5,
    );
    const dlq = (await writer.registry.getSingleMetric('vigil_dlq_records_total')!.get()).values;
    expect(dlq.map((v) => [v.labels.reason, v.value])).toEqual([['series_limit', 3]]);
    await writer.stop();

    // After a restart: the stored series keep storing, a new one is still refused.
    await ctx.start('writer');
    const stored = (await seriesOf('req_total')).map((r) => r.host);
    await post([...stored.map((host) => ({ name: 'req_total', host })), { name: 'req_total', host: 'h99' }]);
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM metrics WHERE name = 'req_total'"),
      (n) => n === 10,
    );
    const after = await awaitRecords(ctx.kafkajs, ctx.config.kafka.topics.dlq, 4);
    expect(after.map(hostOf)).toContain('h99');
    expect(await countRows(ctx.db, "SELECT count(*) AS n FROM metrics WHERE labels->>'host' = 'h99'")).toBe(0);
  });

  it('keeps the series a batch registers when a resent id sends the batch round again', async () => {
    await ctx.start('writer');
    const sample = (host: string, id: string) => ({
      id,
      name: 'resent',
      metric_type: 'gauge',
      value: 1,
      labels: { host },
    });
    const send = async (metrics: object[]) => {
      const res = await gateway.app.inject({
        method: 'POST',
        url: '/api/v1/monitoring/metrics',
        headers: { authorization: `Bearer ${ctx.token('user')}` },
        payload: { metrics },
      });
      expect(res.statusCode, res.body).toBe(202);
    };
    const first = crypto.randomUUID();
    await send([sample('a', first)]);
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM metrics WHERE name = 'resent'"),
      (n) => n === 1,
    );
    // One request, one batch: a new series (its claim is new) and a resend of the stored sample (its claim is taken).
    await send([sample('b', crypto.randomUUID()), sample('a', first)]);
    await waitFor(
      () => countRows(ctx.db, "SELECT count(*) AS n FROM metrics WHERE name = 'resent'"),
      (n) => n === 2,
    );
    expect(await seriesOf('resent')).toEqual([
      { host: 'a', n: 1 },
      { host: 'b', n: 1 },
    ]);
    expect(await countRows(ctx.db, "SELECT count(*) AS n FROM metric_series_registry WHERE name = 'resent'")).toBe(2);
    const counted = await ctx.db.query("SELECT series::int AS n FROM metric_series_counts WHERE name = 'resent'");
    expect(counted.rows).toEqual([{ n: 2 }]);
  });
});
