/**
 * The server measured by bench/plugin.ts, run as a child process so that it has a core of its own: a Fastify
 * hello-world route, bare or instrumented with vigilFastify (the client sending to the parent's local sink).
 * Modes, the last five to see where the plugin's cost goes:
 *   bare                     Fastify alone
 *   plugin                   vigilFastify with the client's defaults (gzip, sent from a worker thread; durations
 *                            aggregated into histogram buckets)
 *   plugin-identity          the same without compression
 *   plugin-observations      vigilFastify with durations: 'observations' (one histogram sample per request)
 *   empty-hooks              the plugin's hook pair, empty (onRequest, onSend): Fastify's own price for it
 *   empty-hooks-on-response  an empty onRequest and onResponse (the pair the plugin used before)
 *   plugin-no-recording      vigilFastify whose metric series record nothing (request ids, header, route hooks)
 *   plugin-no-delivery       vigilFastify recording into a transport that sends nothing
 * Protocol over IPC: sends { port } when listening; on 'cpu' answers { cpu: process CPU µs so far (user + system,
 * all threads: the client's worker included) }; on 'stats' flushes the client and answers { stats }.
 */
import Fastify from 'fastify';
import { createClient, vigilFastify, type ClientOptions, type VigilClient } from '../client/index.ts';
import { SERVER_MODES, type ServerMode } from './plugin-modes.ts';

const [mode, sinkUrl] = process.argv.slice(2) as [ServerMode, string];
if (!SERVER_MODES.includes(mode)) throw new Error(`usage: plugin-server.ts ${SERVER_MODES.join('|')} <sink url>`);

const app = Fastify({ logger: false });
let client: VigilClient | null = null;
if (mode === 'empty-hooks') {
  app.addHook('onRequest', (_request, _reply, done) => done());
  app.addHook('onSend', (_request, _reply, payload, done) => done(null, payload));
} else if (mode === 'empty-hooks-on-response') {
  app.addHook('onRequest', (_request, _reply, done) => done());
  app.addHook('onResponse', (_request, _reply, done) => done());
} else if (mode !== 'bare') {
  const delivery: Partial<ClientOptions> =
    mode === 'plugin-no-delivery'
      ? { transport: { send: async () => ({ type: 'delivered', rejected: 0, detail: null }), close: async () => {} } }
      : { gateway: { url: sinkUrl, token: 'bench', compress: mode !== 'plugin-identity' } };
  client = createClient({ source: 'bench-service', onError: () => {}, ...delivery });
  if (mode === 'plugin-no-recording')
    client.metric.series = client.metric.aggregatedHistogram = () => ({ record: () => {} });
  await app.register(vigilFastify, { client, durations: mode === 'plugin-observations' ? 'observations' : 'buckets' });
}
app.get('/hello', async () => ({ hello: 'world' }));
await app.listen({ port: 0, host: '127.0.0.1' });
process.send!({ port: (app.server.address() as { port: number }).port });

process.on('message', async (message) => {
  if (message === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send!({ cpu: user + system });
  } else if (message === 'stats') {
    await client?.flush();
    process.send!({ stats: client?.stats() ?? null });
  }
});
process.on('disconnect', async () => {
  await app.close();
  await client?.close({ timeoutMs: 1000 });
  process.exit(0);
});
