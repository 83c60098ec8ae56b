/**
 * The public /readyz names the failing check with a fixed reason and never leaks what the error says (host names,
 * ports, versions, server messages); those go to the log, once per change.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';
import { FAILED_CHECK, NotReadyError } from './readiness.ts';

const POSTGRES_DOWN = 'connect ECONNREFUSED db-primary.internal:5432 (PostgreSQL 16.4 on x86_64-pc-linux-gnu)';

function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('GET /readyz', () => {
  it('names the failing check without host names, ports, versions or error texts; logs the details once', async () => {
    const { logger, lines } = capturedLogger();
    let postgresDown = true;
    const app = await buildApp({
      logger,
      auth: { secret: 'x'.repeat(32), issuer: 'vigil' },
      registry: new Registry(),
      routes: [],
      readiness: {
        postgres: async () => {
          if (postgresDown) throw new Error(POSTGRES_DOWN);
        },
        kafka: async () => {
          const cause = new Error('no answer from kafka-0.internal:9092');
          throw new NotReadyError('no Kafka broker reachable', { cause });
        },
        migrations: async () => {},
      },
    });
    try {
      const probe = async () => {
        const res = await app.inject({ method: 'GET', url: '/readyz' });
        return { status: res.statusCode, body: res.json(), text: res.body };
      };
      const first = await probe();
      expect(first.status).toBe(503);
      expect(first.body).toEqual({
        status: 'not ready',
        checks: { postgres: FAILED_CHECK, kafka: 'no Kafka broker reachable', migrations: 'ok' },
      });
      for (const secret of ['db-primary', 'internal', '5432', '9092', '16.4', 'ECONNREFUSED', 'x86_64']) {
        expect(first.text).not.toContain(secret);
      }
      await probe(); // the same failures again: not logged a second time

      const failures = lines.filter((l) => l.msg !== undefined && String(l.msg).startsWith('readiness check'));
      expect(failures.map((l) => [l.check, l.level, l.msg])).toEqual([
        ['postgres', 40, `readiness check postgres fails: ${POSTGRES_DOWN}`],
        ['kafka', 40, 'readiness check kafka fails: no Kafka broker reachable: no answer from kafka-0.internal:9092'],
      ]);

      postgresDown = false;
      const later = await probe();
      const checks = { postgres: 'ok', kafka: 'no Kafka broker reachable', migrations: 'ok' };
      expect(later.body).toEqual({ status: 'not ready', checks });
      expect(lines.filter((l) => l.msg === 'readiness check passes again').map((l) => l.check)).toEqual(['postgres']);
    } finally {
      await app.close();
    }
  });

  it('answers within the check timeout when a check hangs, and 200 when every check passes', async () => {
    const { logger } = capturedLogger();
    let hang = true;
    const app = await buildApp({
      logger,
      auth: { secret: 'x'.repeat(32), issuer: 'vigil' },
      registry: new Registry(),
      routes: [],
      readiness: { postgres: () => (hang ? new Promise<void>(() => {}) : Promise.resolve()) },
    });
    try {
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ status: 'not ready', checks: { postgres: 'no answer within 2000 ms' } });
      hang = false;
      const ok = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toEqual({ status: 'ready', checks: { postgres: 'ok' } });
    } finally {
      await app.close();
    }
  });
});
