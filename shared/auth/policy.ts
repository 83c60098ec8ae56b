/**
 * The access policy, in one table: every route vigil serves is listed with the lowest role that may call it
 * (user < moderator < admin, docs/contract.md) or `public`. Registering a route that is missing here
 * fails at startup, so a route cannot be exposed without a decision, and the RBAC test enumerates this table.
 */
export const ROLES = ['user', 'moderator', 'admin'] as const;
export type UserRole = (typeof ROLES)[number];
export type Access = UserRole | 'public';

/**
 * Who may read the six system-wide figures of /stats (events and metric samples stored and in the last hour, active
 * alerts, open incidents), wherever they are served: /stats, and the `monitoring_*` series of the Prometheus
 * exposition, which omits them for lower roles (its stored series stay readable to users, like GET /metrics).
 * They count every user's data, incidents a user may not see included, so they follow the contract's /stats level.
 */
export const AGGREGATE_FIGURES_ROLE: UserRole = 'moderator';

export const ROUTE_POLICY: Readonly<Record<string, Access>> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'public',
  'POST /api/v1/monitoring/events': 'user',
  'GET /api/v1/monitoring/events': 'user',
  'GET /api/v1/monitoring/events/:id': 'user',
  'GET /api/v1/monitoring/metrics': 'user',
  // Users get the stored series; the monitoring_* series only from AGGREGATE_FIGURES_ROLE up (prometheus.ts).
  'GET /api/v1/monitoring/metrics/prometheus': 'user',
  'GET /api/v1/monitoring/stats': AGGREGATE_FIGURES_ROLE,
  // The same counters per minute (system-wide, every user's data): the /stats level too.
  'GET /api/v1/monitoring/stats/ingest': AGGREGATE_FIGURES_ROLE,
  'GET /api/v1/monitoring/audit': 'admin',
  'GET /docs/openapi.json': 'public',
  // The web console's static files (it signs in with a token and calls the API like any client).
  'GET /console': 'public',
  'GET /console/': 'public',
  'GET /console/*': 'public',
  'POST /api/v1/monitoring/metrics': 'user',
  // OTLP/HTTP ingest (SDKs send the bearer token as a configured header).
  'POST /v1/logs': 'user',
  'POST /v1/metrics': 'user',
  'POST /v1/traces': 'user',
  'GET /api/v1/monitoring/traces': 'user',
  'GET /api/v1/monitoring/traces/:trace_id': 'user',
  // Prometheus remote_write (its `authorization` setting sends the bearer token).
  'POST /api/v1/write': 'user',
  'POST /api/v1/monitoring/alerts': 'moderator',
  'GET /api/v1/monitoring/alerts': 'user',
  'GET /api/v1/monitoring/alerts/:id': 'user',
  'PUT /api/v1/monitoring/alerts/:id': 'moderator',
  'DELETE /api/v1/monitoring/alerts/:id': 'moderator',
  'GET /api/v1/monitoring/alerts/:id/history': 'user',
  'POST /api/v1/monitoring/alerts/preview': 'moderator',
  'POST /api/v1/monitoring/alerts/validate': 'moderator',
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
