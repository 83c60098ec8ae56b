/**
 * The gateway's ingest path of another checkout, loaded by path so that two trees run side by side in one process
 * (bench/ingest-differential.ts compares their answers, bench/gateway-items-ab.ts their CPU): each keeps its own
 * config, codecs, item kind and metrics.
 */
/** The checkout's config, codecs, event kind, gateway metrics, parseBody, ingest and maxItemValues(config). */
export async function loadGatewayCheckout(root: string) {
  const { loadConfig } = await import(`${root}/shared/config.ts`);
  const { Registry } = await import(`${root}/shared/metrics.ts`);
  const { loadCodecs } = await import(`${root}/shared/schemas/avro.ts`);
  const { parseBody } = await import(`${root}/services/gateway/body.ts`);
  const { ingest } = await import(`${root}/services/gateway/ingest.ts`);
  const { eventKind, maxItemValues } = await import(`${root}/services/gateway/kinds.ts`);
  const { createGatewayMetrics } = await import(`${root}/services/gateway/metrics.ts`);
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const codecs = loadCodecs();
  // A router that gives each key back (the event's source) rather than its partition: every checkout then groups
  // items alike (those from before events were bundled per partition route by source and ignore the argument), so
  // bench/ingest-differential.ts compares bundles across that change, and no broker is asked.
  const bySource = { router: async () => (key: string) => key };
  const kind = eventKind(config, codecs.get('Event'), codecs.get('EventBundle'), bySource);
  const metrics = createGatewayMetrics(new Registry());
  return { config, codecs, kind, metrics, parseBody, ingest, maxItemValues: maxItemValues(config) };
}
