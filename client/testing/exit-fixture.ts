/**
 * A process that logs one event and a counter, then simply ends, never calling close(): the client must flush on
 * 'beforeExit'. Used by client.test.ts.  Usage: exit-fixture.ts <gateway url>
 */
import { createClient } from '../client.ts';

const vigil = createClient({
  source: 'short-lived-job',
  gateway: { url: process.argv[2], token: 't' },
  flushIntervalMs: 60_000,
});
vigil.log.info('job finished', { rows: 3 });
vigil.metric.counter('jobs_total');
