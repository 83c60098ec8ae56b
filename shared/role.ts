/**
 * What a running role hands to the process that hosts it: HTTP routes to mount, readiness checks for /readyz,
 * start(), and stop(), which drains in-flight work before it resolves (also while start() is still under way).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Config } from './config.ts';
import type { Pool } from './db/pool.ts';
import type { ReadinessCheck } from './http/readiness.ts';
import type { Kafka } from './kafka/client.ts';
import type { Logger } from './logger.ts';
import type { Registry } from './metrics.ts';
import type { Codec } from './schemas/avro.ts';

/** What the hosting process shares with every role it starts: one of each per process. */
export interface RoleDeps {
  config: Config;
  logger: Logger;
  kafka: Kafka;
  pool: Pool;
  codecs: ReadonlyMap<string, Codec>;
  registry: Registry;
}

export interface RoleHandle {
  name: string;
  routes: FastifyPluginAsync[];
  readiness: Record<string, ReadinessCheck>;
  /**
   * Joins consumer groups (and claims what they assign). The host calls it only once its HTTP port is bound: a
   * process that cannot serve must never take partitions from the members that can, and a join may wait for a
   * crashed member's session to expire, which must not keep the HTTP side from answering meanwhile.
   */
  start?(): Promise<void>;
  stop(): Promise<void>;
}
