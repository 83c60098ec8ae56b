/**
 * Overload: far more concurrent large requests than the gateway's in-flight bounds. The excess is refused at once
 * with 429 + Retry-After, everything admitted is answered 202, nothing fails otherwise, and the process's RSS stays
 * bounded by the in-flight bytes rather than growing with the offered load. Real HTTP on a real socket (inject()
 * would bypass the streaming of bodies that the bounds are about).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../bin/runtime.ts';
import { createTestContext, type TestContext } from '../../test/helpers/context.ts';

const CONCURRENT = 240;
const EVENTS_PER_REQUEST = 1000;

describe('gateway under overload', () => {
  let ctx: TestContext;
  let api: Runtime;
  let base: string;

  beforeAll(async () => {
    ctx = await createTestContext();
    api = await ctx.start('gateway', {
      INGEST_MAX_INFLIGHT_REQUESTS: '16',
      INGEST_MAX_INFLIGHT_BYTES: String(8 * 1024 * 1024),
    });
    base = await api.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => ctx?.cleanup());

  it('sheds the excess with 429 + Retry-After and keeps RSS bounded', async () => {
    globalThis.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    // The load comes from another process, so that it arrives as fast as sockets allow, not as fast as this
    // process's event loop (which the gateway also needs) lets it be written.
    const answers = await offerLoad(`${base}/api/v1/monitoring/events`, ctx.token('user'));
    clearInterval(sampler);

    const byStatus = new Map<number, number>();
    for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    console.log(`statuses ${JSON.stringify(Object.fromEntries(byStatus))}; RSS ${mb(baseline)} → peak ${mb(peak)} MB`);
    expect(answers).toHaveLength(CONCURRENT);
    expect([...byStatus.keys()].sort()).toEqual([202, 429]);
    for (const a of answers.filter((x) => x.status === 429))
      expect([a.retryAfter, a.code]).toEqual(['1', 'VIGIL_ERR_RATE_LIMITED']);
    expect(byStatus.get(202)).toBeGreaterThanOrEqual(4);
    // Admitted work is bounded by 16 requests / 8 MB of bodies: parsing, Avro and KafkaJS buffers included this
    // stays far below the ~1 GB that holding every offered body at once would take.
    expect(peak - baseline).toBeLessThan(300 * 1024 * 1024);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(
      /^vigil_gateway_shed_requests_total\{[^}]*reason="inflight_(requests|bytes)"[^}]*\} [1-9]/m,
    );
    expect(metrics).toMatch(/^vigil_gateway_inflight_requests\{[^}]*\} 0$/m);
  }, 120_000);
});

interface Answer {
  status: number;
  retryAfter: string | null;
  code: string | null;
}

/** Sends CONCURRENT requests of ~1 MB (EVENTS_PER_REQUEST events) at once from a child process. */
async function offerLoad(url: string, token: string): Promise<Answer[]> {
  const script = `
    const body = JSON.stringify({ events: Array.from({ length: ${EVENTS_PER_REQUEST} }, (_, i) => ({
      event_type: 'log', source: 'overload-' + (i % 10), message: 'm'.repeat(800), level: 'info',
      tags: { i: String(i) } })) });
    const headers = { authorization: 'Bearer ' + process.env.TOKEN, 'content-type': 'application/json' };
    const answers = await Promise.all(Array.from({ length: ${CONCURRENT} }, async () => {
      try {
        const res = await fetch(process.env.URL, { method: 'POST', headers, body });
        const json = await res.json();
        return { status: res.status, retryAfter: res.headers.get('retry-after'), code: json.error?.code ?? null };
      } catch (error) {
        return { status: 0, retryAfter: null, code: String(error) };
      }
    }));
    process.stdout.write(JSON.stringify(answers));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, URL: url, TOKEN: token },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  const [code] = (await once(child, 'exit')) as [number];
  expect(code).toBe(0);
  return JSON.parse(out) as Answer[];
}

function mb(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}
