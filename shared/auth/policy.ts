/**
 * The access policy, in one table: every route vigil serves is listed with the lowest role that may call it
 * (user < moderator < admin, from the seed's RBAC section) or `public`. Registering a route that is missing here
 * fails at startup, so a route cannot be exposed without a decision, and the RBAC test enumerates this table.
 */
export const ROLES = ['user', 'moderator', 'admin'] as const;
export type UserRole = (typeof ROLES)[number];
export type Access = UserRole | 'public';

export const ROUTE_POLICY: Readonly<Record<string, Access>> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'public',
  'POST /api/v1/monitoring/events': 'user',
  'GET /api/v1/monitoring/events': 'user',
  'GET /api/v1/monitoring/events/:id': 'user',
  'GET /api/v1/monitoring/metrics': 'user',
  'GET /api/v1/monitoring/metrics/prometheus': 'user',
  'GET /api/v1/monitoring/stats': 'moderator',
  'GET /docs/openapi.json': 'public',
  'POST /api/v1/monitoring/metrics': 'user',
  'POST /api/v1/monitoring/alerts': 'moderator',
  'GET /api/v1/monitoring/alerts': 'user',
  'GET /api/v1/monitoring/alerts/:id': 'user',
  'PUT /api/v1/monitoring/alerts/:id': 'moderator',
  'DELETE /api/v1/monitoring/alerts/:id': 'moderator',
  'GET /api/v1/monitoring/alerts/:id/history': 'user',
  'POST /api/v1/monitoring/alerts/preview': 'moderator',
  // Incidents: any role; who sees which incident is decided per incident (services/incidents/store.ts).
  'POST /api/v1/monitoring/incidents': 'user',
  'GET /api/v1/monitoring/incidents': 'user',
  'GET /api/v1/monitoring/incidents/:id': 'user',
  'PUT /api/v1/monitoring/incidents/:id': 'user',
  'GET /api/v1/monitoring/incidents/:id/timeline': 'user',
  'GET /api/v1/monitoring/incidents/:id/analysis': 'user',
  // The Prometheus-compatible query API (services/query/promql-api.ts): Grafana and promtool read with a user token.
  'GET /prometheus/api/v1/query': 'user',
  'POST /prometheus/api/v1/query': 'user',
  'GET /prometheus/api/v1/query_range': 'user',
  'POST /prometheus/api/v1/query_range': 'user',
  'GET /prometheus/api/v1/series': 'user',
  'POST /prometheus/api/v1/series': 'user',
  'GET /prometheus/api/v1/labels': 'user',
  'POST /prometheus/api/v1/labels': 'user',
  'GET /prometheus/api/v1/label/:name/values': 'user',
  'GET /prometheus/api/v1/metadata': 'user',
  'GET /prometheus/api/v1/status/buildinfo': 'user',
  'GET /prometheus/api/v1/query_exemplars': 'user',
  'POST /prometheus/api/v1/query_exemplars': 'user',
  'GET /prometheus/api/v1/rules': 'user',
};

const RANK: Record<UserRole, number> = { user: 1, moderator: 2, admin: 3 };

export function isUserRole(value: unknown): value is UserRole {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function allows(role: UserRole, required: UserRole): boolean {
  return RANK[role] >= RANK[required];
}

export function routeKey(method: string, url: string): string {
  return `${method.toUpperCase()} ${url}`;
}
