/**
 * A listening runtime with the gateway binds its port with the gateway's routes before the other roles are built
 * (bin/runtime.ts). Once they are, the same port serves every role's routes, a path no role serves is a 404 again
 * (503 with Retry-After only while roles are loading), and a gateway-only process serves its own app throughout.
 */
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime, type Runtime } from '../bin/runtime.ts';
import { loadConfig } from '../shared/config.ts';
import { createTestContext, type TestContext } from './helpers/context.ts';

describe('gateway first', () => {
  let ctx: TestContext;
  const runtimes: Runtime[] = [];

  beforeAll(async () => {
    ctx = await createTestContext();
  });
  afterAll(async () => {
    for (const runtime of runtimes) await runtime.stop();
    await ctx?.cleanup();
  });

  const listening = async (roles: string) => {
    const runtime = await startRuntime(loadConfig({ ...ctx.env, VIGIL_ROLES: roles }), ctx.logger, {
      listen: { host: '127.0.0.1', port: 0 },
    });
    runtimes.push(runtime);
    const { port } = runtime.app.server.address() as net.AddressInfo;
    return { runtime, base: `http://127.0.0.1:${port}` };
  };
  const get = async (url: string, role: 'user' | 'moderator' = 'moderator') => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${ctx.token(role)}` } });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() };
  };
  const post = (base: string) =>
    fetch(`${base}/api/v1/monitoring/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.token('user')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event_type: 'log', source: `first-${ctx.id}`, level: 'info', message: 'm' }),
    });

  it('accepts ingest at once; serves every role on the same port once they are built', async () => {
    const { runtime, base } = await listening('gateway,writer,query');
    expect((await post(base)).status).toBe(202);
    // While the query role loads, its paths answer 503 with Retry-After; afterwards they are served.
    const early = await get(`${base}/api/v1/monitoring/stats`);
    if (early.status === 503) {
      expect([early.retryAfter, early.body.error.code]).toEqual(['1', 'VIGIL_ERR_NOT_READY']);
    }
    await runtime.started;
    const stats = await get(`${base}/api/v1/monitoring/stats`);
    expect(stats.status).toBe(200);
    expect(stats.body.success).toBe(true);
    expect((await get(`${base}/api/v1/monitoring/nowhere`)).status).toBe(404);
    const ready = await get(`${base}/readyz`);
    expect(Object.keys(ready.body.checks)).toContain('writer');
    expect(Object.values(ready.body.checks)).not.toContain('writer: starting');
    expect((await post(base)).status).toBe(202);
  });

  it('a gateway-only process answers 404 for paths it does not serve once started', async () => {
    const { runtime, base } = await listening('gateway');
    await runtime.started;
    expect((await get(`${base}/api/v1/monitoring/stats`)).status).toBe(404);
    expect((await get(`${base}/readyz`)).body).toEqual({ status: 'ready', checks: { kafka: 'ok' } });
  });
});
