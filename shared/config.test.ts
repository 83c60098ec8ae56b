import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEV_JWT_SECRET, KNOWN_DEV_SECRETS, loadConfig, ROOT_DIR, SETTINGS } from './config.ts';

describe('loadConfig', () => {
  it('applies documented defaults', () => {
    const config = loadConfig({});
    expect(config.roles).toEqual(['gateway', 'writer', 'query', 'maintenance', 'alerter']);
    expect(config.writer).toEqual({
      groupId: 'vigil-writer',
      batchMaxRows: 5000,
      batchMaxWaitMs: 200,
      concurrency: 2,
      sessionTimeoutMs: 30_000,
    });
    expect(config.maintenance).toEqual({ intervalSeconds: 300 });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 8080, otlpPort: null });
    expect(loadConfig({ OTLP_HTTP_PORT: '4318' }).http.otlpPort).toBe(4318);
    expect(config.database).toEqual({ url: 'postgres://postgres@127.0.0.1:5432/vigil', poolMax: 10, isDefault: true });
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(config.kafka.local).toEqual({
      managed: true,
      dir: path.join(ROOT_DIR, '.kafka'),
      port: 9092,
      controllerPort: 19093,
      heapMb: 1024,
    });
    expect(config.storage.eventRetentionDays).toBe(30);
    expect(config.storage.metricRetentionDays).toBe(90);
    expect(config.auth).toEqual({ secret: DEV_JWT_SECRET, isDevSecret: true, issuer: 'vigil', keys: [] });
    expect(Object.isFrozen(config.kafka.topics)).toBe(true);
  });

  it('reports every invalid value at once', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        LOG_LEVEL: 'loud',
        KAFKA_BROKERS: 'nope',
        MONITORING_EVENT_RETENTION_DAYS: '0',
        DATABASE_URL: 'mysql://x',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'KAFKA_BROKERS="nope" must be a comma list of host:port',
      'DATABASE_URL must start with postgres:// or postgresql://',
      'PORT="eighty" must be an integer from 0 to 65535',
      'LOG_LEVEL="loud" must be one of fatal, error, warn, info, debug, trace, silent',
      'MONITORING_EVENT_RETENTION_DAYS="0" must be an integer from 1 to 36500',
    ]);
    expect((error as Error).message).toMatch(/^Invalid configuration \(5 problems\)/);
  });

  it('refuses source and metric name limits that PostgreSQL could not index', () => {
    expect(() => loadConfig({ INGEST_SOURCE_MAX_LENGTH: '513' })).toThrow(
      /INGEST_SOURCE_MAX_LENGTH="513" must be an integer from 1 to 512/,
    );
    expect(() => loadConfig({ INGEST_METRIC_NAME_MAX_LENGTH: '65536' })).toThrow(
      /INGEST_METRIC_NAME_MAX_LENGTH="65536" must be an integer from 1 to 1024/,
    );
  });

  it('refuses the development JWT secret in production and short secrets anywhere', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET is required when NODE_ENV=production/);
    expect(() => loadConfig({ JWT_SECRET: 'short' })).toThrow(/at least 32 bytes/);
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) });
    expect(config.auth.isDevSecret).toBe(false);
  });

  it('takes a seal secret of at least 32 bytes, and seals nothing without one', () => {
    expect(loadConfig({}).kafka.sealSecret).toBeNull();
    expect(loadConfig({ KAFKA_SEAL_SECRET: 'k'.repeat(32) }).kafka.sealSecret).toBe('k'.repeat(32));
    expect(() => loadConfig({ KAFKA_SEAL_SECRET: 'k'.repeat(31) })).toThrow(
      /KAFKA_SEAL_SECRET must be at least 32 bytes \(it has 31\): make one with `openssl rand -base64 48`/,
    );
  });

  it('outside development refuses a missing, published or short secret, saying how to make one', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    const make = 'make one with `openssl rand -base64 48` and pass it as JWT_SECRET';
    // Any NODE_ENV but development and test is a deployment: `staging` is not let through for being unusual.
    for (const nodeEnv of ['production', 'staging', 'prod']) {
      expect(problems({ NODE_ENV: nodeEnv })).toEqual([
        `JWT_SECRET is required when NODE_ENV=${nodeEnv} (only development and test may use the public development ` +
          `secret): ${make}, or set JWT_PUBLIC_KEY_FILE / JWT_JWKS_FILE`,
      ]);
      for (const published of KNOWN_DEV_SECRETS) {
        expect(problems({ NODE_ENV: nodeEnv, JWT_SECRET: published })).toEqual([
          'JWT_SECRET is a development secret published with vigil (anyone can mint tokens with it) and ' +
            `NODE_ENV=${nodeEnv} is not development: ${make}`,
        ]);
      }
    }
    expect(KNOWN_DEV_SECRETS).toEqual([DEV_JWT_SECRET, 'change-me-change-me-change-me-change-me']);
    // 31 bytes in 31 characters, and 30 bytes in 10 characters (bytes are what an HMAC key is made of).
    expect(problems({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(31), PORT: 'none' })).toEqual([
      `JWT_SECRET must be at least 32 bytes (it has 31): ${make}`,
      'PORT="none" must be an integer from 0 to 65535',
    ]);
    const euros = '€'.repeat(10);
    expect(problems({ JWT_SECRET: euros })).toEqual([`JWT_SECRET must be at least 32 bytes (it has 30): ${make}`]);
    // Development and test may use the published ones (announced at startup).
    expect(loadConfig({ NODE_ENV: 'test' }).auth).toMatchObject({ secret: DEV_JWT_SECRET, isDevSecret: true });
    const published = KNOWN_DEV_SECRETS[1];
    expect(loadConfig({ JWT_SECRET: published }).auth).toMatchObject({ secret: published, isDevSecret: true });
    const secret = crypto.randomBytes(48).toString('base64');
    const auth = loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).auth;
    expect(auth).toEqual({ secret, isDevSecret: false, issuer: 'vigil', keys: [] });
  });

  it('starts no local broker when KAFKA_BROKERS points elsewhere', () => {
    expect(loadConfig({ KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092' }).kafka.local.managed).toBe(false);
    expect(loadConfig({ KAFKA_BROKERS: 'localhost:9092' }).kafka.local.managed).toBe(true);
    expect(loadConfig({ KAFKA_BROKERS: '127.0.0.1:9999' }).kafka.local.managed).toBe(false);
    expect(loadConfig({ KAFKA_BROKERS: '127.0.0.1:9999', KAFKA_LOCAL_PORT: '9999' }).kafka.local.managed).toBe(true);
  });

  it('sets min.insync.replicas only when asked, and never above the replication factor', () => {
    expect(loadConfig({}).kafka.minInsyncReplicas).toBeNull();
    const replicated = loadConfig({ KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '2' }).kafka;
    expect([replicated.replicationFactor, replicated.minInsyncReplicas]).toEqual([3, 2]);
    expect(() => loadConfig({ KAFKA_MIN_INSYNC_REPLICAS: '2' })).toThrow(
      /KAFKA_MIN_INSYNC_REPLICAS=2 exceeds KAFKA_REPLICATION_FACTOR=1: no acks=all produce could ever succeed/,
    );
    expect(() => loadConfig({ KAFKA_MIN_INSYNC_REPLICAS: '0' })).toThrow(
      /KAFKA_MIN_INSYNC_REPLICAS="0" must be an integer/,
    );
  });

  it('takes roles from --role over VIGIL_ROLES and rejects unknown ones', () => {
    expect(loadConfig({ VIGIL_ROLES: 'query' }, ['--role', 'gateway,writer']).roles).toEqual(['gateway', 'writer']);
    expect(loadConfig({}, ['--role=query']).roles).toEqual(['query']);
    expect(() => loadConfig({ VIGIL_ROLES: 'gateway,bogus' })).toThrow(
      /roles "gateway,bogus" must be "all" or a comma list/,
    );
  });

  it('is documented: every setting appears in the README configuration table', () => {
    const readme = fs.readFileSync(path.join(ROOT_DIR, 'README.md'), 'utf8');
    const documented = new Set([...readme.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    expect(SETTINGS.map((s) => s.name).filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !SETTINGS.some((s) => s.name === name))).toEqual([]);
  });
});
