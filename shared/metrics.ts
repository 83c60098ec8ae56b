/**
 * Each process creates one registry and passes it to the roles it runs (nothing is registered at import time).
 * Labels are bounded: topic, role, outcome, reason — never ids.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(roles: readonly string[]): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'vigil', roles: roles.join(',') });
  collectDefaultMetrics({ register: registry, prefix: 'vigil_process_' });
  return registry;
}

export { Counter, Gauge, Histogram, Registry } from 'prom-client';
