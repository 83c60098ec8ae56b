/**
 * What a running role hands to the process that hosts it: HTTP routes to mount, readiness checks for /readyz,
 * and stop(), which drains in-flight work before it resolves.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ReadinessCheck } from './http/readiness.ts';

export interface RoleHandle {
  name: string;
  routes: FastifyPluginAsync[];
  readiness: Record<string, ReadinessCheck>;
  stop(): Promise<void>;
}
