/**
 * incidents and incident_timeline (infra/migrations/0005): creation, reads, visibility and updates. Every change
 * is written together with its timeline entry (who, what, when) in one transaction.
 *
 * Visibility (the contract's roles): a user sees the incidents they created or are assigned; moderator+ see all.
 * An incident the caller may not see answers 404, exactly like one that does not exist, so ids do not leak.
 * Whoever sees an incident may update it (creator, assignee, moderator+).
 */
import type { Principal } from '../../shared/auth/plugin.ts';
import { allows } from '../../shared/auth/policy.ts';
import { isUniqueViolation } from '../../shared/db/errors.ts';
import type { Pool, PoolClient } from '../../shared/db/pool.ts';
import { VigilError } from '../../shared/errors.ts';
import type { IncidentPatch, ListFilters, NewIncident } from './input.ts';
import { allowedNext, canMove, type Severity, type Status } from './lifecycle.ts';
import { inTransaction, rows, type Queryable } from './sql.ts';
import { uuidv7 } from '../../shared/schemas/uuid7.ts';

export interface IncidentRow {
  id: string;
  title: string;
  description: string | null;
  severity: Severity;
  status: Status;
  root_cause: string | null;
  assigned_to: string | null;
  created_by: string;
  sources: string[];
  tags: Record<string, string>;
  alert_rule_id: string | null;
  alert_fingerprint: string | null;
  started_at: Date;
  resolved_at: Date | null;
  closed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export const COLUMNS =
  'id, title, description, severity, status, root_cause, assigned_to, created_by, sources, tags, alert_rule_id, ' +
  'alert_fingerprint, started_at, resolved_at, closed_at, created_at, updated_at';

export interface TimelineEntry {
  actor: string;
  kind: string;
  message: string;
  details?: Record<string, unknown>;
  at?: Date;
}

export function incidentToJson(row: IncidentRow) {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    severity: row.severity,
    status: row.status,
    // The lifecycle's moves from the current status (lifecycle.ts), so clients need no copy of the table.
    allowed_transitions: [...allowedNext(row.status)],
    root_cause: row.root_cause,
    assigned_to: row.assigned_to,
    created_by: row.created_by,
    sources: row.sources,
    tags: row.tags,
    alert: row.alert_rule_id === null ? null : { rule_id: row.alert_rule_id, fingerprint: row.alert_fingerprint },
    started_at: row.started_at.toISOString(),
    resolved_at: row.resolved_at?.toISOString() ?? null,
    closed_at: row.closed_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function canSee(row: Pick<IncidentRow, 'created_by' | 'assigned_to'>, who: Principal): boolean {
  return allows(who.role, 'moderator') || row.created_by === who.sub || row.assigned_to === who.sub;
}

export function notFound(id: string): VigilError {
  return new VigilError(
    'VIGIL_ERR_NOT_FOUND',
    `no incident ${id} (or not visible to you: users see the incidents they created or are assigned)`,
  );
}

export async function addEntries(db: Queryable, incidentId: string, entries: readonly TimelineEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db.query(
    `INSERT INTO incident_timeline (incident_id, at, actor, kind, message, details)
     SELECT $1, coalesce(at, now()), actor, kind, message, details
       FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) WITH ORDINALITY AS e(at, actor,
         kind, message, details, ord)
      ORDER BY ord`,
    [
      incidentId,
      entries.map((e) => e.at?.toISOString() ?? null),
      entries.map((e) => e.actor),
      entries.map((e) => e.kind),
      entries.map((e) => e.message),
      entries.map((e) => JSON.stringify(e.details ?? {})),
    ],
  );
}

export interface AlertOrigin {
  ruleId: string;
  fingerprint: string;
}

/**
 * Inserts the incident and its `created` entry; with `alert`, returns null when the series already has an unresolved
 * incident.
 */
export async function insertIncident(
  client: PoolClient,
  input: NewIncident,
  createdBy: string,
  alert: AlertOrigin | null = null,
): Promise<IncidentRow | null> {
  const found = await client.query<IncidentRow>(
    `INSERT INTO incidents (id, title, description, severity, assigned_to, created_by, sources, tags, alert_rule_id,
       alert_fingerprint, started_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()))
     ON CONFLICT (alert_rule_id, alert_fingerprint) WHERE alert_rule_id IS NOT NULL AND status NOT IN ('resolved',
       'closed') DO NOTHING
     RETURNING ${COLUMNS}`,
    [
      uuidv7(),
      input.title,
      input.description,
      input.severity,
      input.assigned_to,
      createdBy,
      input.sources,
      JSON.stringify(input.tags),
      alert?.ruleId ?? null,
      alert?.fingerprint ?? null,
      input.started_at?.toISOString() ?? null,
    ],
  );
  const row = found.rows[0];
  if (!row) return null;
  await addEntries(client, row.id, [
    {
      actor: createdBy,
      kind: 'created',
      message: `incident opened (${row.severity}): ${row.title}`,
      details: { severity: row.severity, assigned_to: row.assigned_to, sources: row.sources, tags: row.tags },
      at: row.created_at,
    },
  ]);
  return row;
}

export async function createIncident(pool: Pool, input: NewIncident, who: Principal): Promise<IncidentRow> {
  return inTransaction(pool, async (client) => (await insertIncident(client, input, who.sub))!);
}

export async function getVisible(db: Queryable, id: string, who: Principal): Promise<IncidentRow> {
  const [row] = await rows<IncidentRow>(db, `SELECT ${COLUMNS} FROM incidents WHERE id = $1`, [id]);
  if (!row || !canSee(row, who)) throw notFound(id);
  return row;
}

export async function listIncidents(
  db: Queryable,
  f: ListFilters,
  who: Principal,
): Promise<{ rows: IncidentRow[]; more: boolean }> {
  const where: string[] = [];
  const values: unknown[] = [];
  const bind = (v: unknown) => `$${values.push(v)}`;
  if (!allows(who.role, 'moderator')) where.push(`(created_by = ${bind(who.sub)} OR assigned_to = ${bind(who.sub)})`);
  if (f.status.length) where.push(`status = ANY(${bind(f.status)}::text[])`);
  if (f.severity.length) where.push(`severity = ANY(${bind(f.severity)}::text[])`);
  if (f.assigned_to !== null) where.push(`assigned_to = ${bind(f.assigned_to)}`);
  if (f.start_time) where.push(`started_at >= ${bind(f.start_time.toISOString())}`);
  if (f.end_time) where.push(`started_at <= ${bind(f.end_time.toISOString())}`);
  const found = await rows<IncidentRow>(
    db,
    `SELECT ${COLUMNS} FROM incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_at DESC, id DESC LIMIT ${bind(f.limit + 1)} OFFSET ${bind(f.offset)}`,
    values,
  );
  return { rows: found.slice(0, f.limit), more: found.length > f.limit };
}

const show = (v: unknown) => (v === null || v === undefined ? 'none' : typeof v === 'string' ? v : JSON.stringify(v));

/** What `patch` changes on `row`, as timeline entries; throws 409 for a status move the lifecycle forbids. */
export function diff(row: IncidentRow, patch: IncidentPatch, actor: string): TimelineEntry[] {
  if (patch.status !== undefined && !canMove(row.status, patch.status)) {
    const allowed = allowedNext(row.status);
    throw new VigilError(
      'VIGIL_ERR_INVALID_TRANSITION',
      `an incident cannot move from ${row.status} to ${patch.status}; ` +
        `from ${row.status} it may move to ${allowed.join(', ')}`,
      { from: row.status, to: patch.status, allowed },
    );
  }
  const entries: TimelineEntry[] = [];
  const fields: [keyof IncidentPatch, string][] = [
    ['status', 'status'],
    ['severity', 'severity'],
    ['assigned_to', 'assigned'],
    ['root_cause', 'root_cause'],
    ['title', 'title'],
    ['description', 'description'],
    ['sources', 'scope'],
    ['tags', 'scope'],
  ];
  for (const [field, kind] of fields) {
    const next = patch[field];
    if (next === undefined) continue;
    const prev = row[field];
    if (JSON.stringify(prev) === JSON.stringify(next)) continue;
    const message =
      field === 'status' && (prev === 'resolved' || prev === 'closed') && next !== 'closed'
        ? `reopened: status ${show(prev)} → ${show(next)}`
        : `${field} ${show(prev)} → ${show(next)}`;
    entries.push({ actor, kind, message, details: { field, from: prev, to: next } });
  }
  return entries;
}

/** Applies `patch` to a visible incident; returns the row as it now is. */
export async function updateIncident(
  pool: Pool,
  id: string,
  patch: IncidentPatch,
  who: Principal,
): Promise<IncidentRow> {
  try {
    return await inTransaction(pool, async (client) => {
      const [row] = (await client.query<IncidentRow>(`SELECT ${COLUMNS} FROM incidents WHERE id = $1 FOR UPDATE`, [id]))
        .rows;
      if (!row || !canSee(row, who)) throw notFound(id);
      const entries = diff(row, patch, who.sub);
      if (entries.length === 0) return row;
      const updated = await applyPatch(client, row, patch);
      await addEntries(client, id, entries);
      return updated;
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new VigilError(
        'VIGIL_ERR_CONFLICT',
        'another unresolved incident already tracks this alert series; resolve or close it before reopening this one',
      );
    }
    throw error;
  }
}

/** UPDATE with the patch's fields, stamping resolved_at/closed_at as the status moves. */
export async function applyPatch(client: PoolClient, row: IncidentRow, patch: IncidentPatch): Promise<IncidentRow> {
  const sets: string[] = ['updated_at = now()'];
  const values: unknown[] = [row.id];
  const bind = (v: unknown) => `$${values.push(v)}`;
  for (const field of ['title', 'description', 'severity', 'status', 'root_cause', 'assigned_to', 'sources'] as const) {
    if (patch[field] !== undefined) sets.push(`${field} = ${bind(patch[field])}`);
  }
  if (patch.tags !== undefined) sets.push(`tags = ${bind(JSON.stringify(patch.tags))}`);
  if (patch.status !== undefined && patch.status !== row.status) {
    if (patch.status === 'resolved') sets.push('resolved_at = now()');
    if (patch.status === 'closed') sets.push('closed_at = now()', 'resolved_at = coalesce(resolved_at, now())');
    if (patch.status !== 'resolved' && patch.status !== 'closed') sets.push('resolved_at = NULL', 'closed_at = NULL');
  }
  const {
    rows: [updated],
  } = await client.query<IncidentRow>(
    `UPDATE incidents SET ${sets.join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`,
    values,
  );
  return updated;
}
