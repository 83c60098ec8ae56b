/**
 * Applies alert transitions to incidents. The alerter's transaction that records a transition to firing or
 * resolved also puts its id in incident_inbox (trigger, migration 0005); apply() takes a batch in id order and,
 * in ONE transaction, applies each and deletes it from the inbox, so a crash leaves it there to be applied again
 * and a success removes it. Redelivery of an already applied transition (an inbox row put back, two workers) is
 * refused by incident_transitions' primary key, and two unresolved incidents for one alert series by the partial
 * unique index on incidents: constraints, not checks.
 *
 *   firing    if the series already has an unresolved incident, attaches to it (a timeline entry says the alert
 *             fired again); else, grouping by rule (INCIDENTS_GROUP_WINDOW_SECONDS > 0), joins the rule's unresolved
 *             alert-opened incident if it started within the window before the firing or still has a firing alert
 *             (a timeline entry says the alert joined); else opens an incident with the rule's severity (started
 *             when the alert fired).
 *   resolved  adds a timeline entry to the series' latest incident and marks the series resolved there; once
 *             none of the incident's alerts fires any more and the rule's annotation `incident_on_resolve` is
 *             `monitoring` or `resolved`, moves an unresolved incident there.
 *
 * One worker applies at a time (transaction-level advisory lock), so a series' firing and resolution are
 * applied in order even with several processes running the worker.
 */
import type { PoolClient } from '../../shared/db/pool.ts';
import { canMove, isUnresolved, type Severity, type Status } from './lifecycle.ts';
import { addEntries, applyPatch, COLUMNS, insertIncident, type IncidentRow } from './store.ts';
import { ALERTER_SOURCE } from './timeline.ts';

import { TITLE_MAX_CHARS } from './input.ts';

const LOCK_KEY = 0x76_69_6e_63; // 'vinc'
export const BATCH = 100;
/** The rule annotation that moves an incident when its alert resolves. */
export const ON_RESOLVE_ANNOTATION = 'incident_on_resolve';

interface TransitionRow {
  inbox_id: string;
  id: string | null;
  rule_id: string;
  rule_name: string;
  fingerprint: string;
  labels: Record<string, string>;
  from_state: string;
  to_state: 'firing' | 'resolved';
  value: number | null;
  at: Date;
  severity: Severity | null;
  description: string | null;
  annotations: Record<string, string> | null;
}

export interface AutomationOptions {
  /** INCIDENTS_GROUP_WINDOW_SECONDS in ms; 0: one incident per alert series. */
  groupWindowMs: number;
}

/** Applies up to BATCH inbox rows; returns how many it took (0 when another worker holds the lock). */
export async function applyInbox(
  client: PoolClient,
  opts: AutomationOptions = { groupWindowMs: 0 },
): Promise<{ taken: number; opened: string[] }> {
  const [{ locked }] = (
    await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [LOCK_KEY])
  ).rows;
  if (!locked) return { taken: 0, opened: [] };
  const { rows } = await client.query<TransitionRow>(
    `SELECT i.transition_id AS inbox_id, t.id, t.rule_id, t.rule_name, t.fingerprint, t.labels, t.from_state,
       t.to_state, t.value, t.at,
            r.severity, r.description, r.annotations
       FROM incident_inbox i
       LEFT JOIN alert_transitions t ON t.id = i.transition_id
       LEFT JOIN alert_rules r ON r.id = t.rule_id
      ORDER BY i.transition_id LIMIT $1`,
    [BATCH],
  );
  const opened: string[] = [];
  for (const t of rows) {
    if (t.id === null) continue; // the transition row is gone (not expected: the history is never deleted)
    const first = await client.query(
      'INSERT INTO incident_transitions (transition_id) VALUES ($1) ON CONFLICT DO NOTHING',
      [t.id],
    );
    if (first.rowCount === 0) continue; // applied before: redelivery
    const incidentId = t.to_state === 'firing' ? await onFiring(client, t, opened, opts) : await onResolved(client, t);
    if (incidentId)
      await client.query('UPDATE incident_transitions SET incident_id = $2 WHERE transition_id = $1', [
        t.id,
        incidentId,
      ]);
  }
  if (rows.length > 0)
    await client.query('DELETE FROM incident_inbox WHERE transition_id = ANY($1::bigint[])', [
      rows.map((r) => r.inbox_id),
    ]);
  return { taken: rows.length, opened };
}

function describe(t: TransitionRow): string {
  const labels = Object.entries(t.labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ');
  return `${t.rule_name}${labels ? ` {${labels}}` : ''}`;
}

async function unresolvedFor(client: PoolClient, t: TransitionRow): Promise<IncidentRow | undefined> {
  const { rows } = await client.query<IncidentRow>(
    `SELECT ${COLUMNS} FROM incidents
      WHERE alert_rule_id = $1 AND alert_fingerprint = $2 AND status NOT IN ('resolved', 'closed') FOR UPDATE`,
    [t.rule_id, t.fingerprint],
  );
  return rows[0];
}

/**
 * The rule's unresolved alert-opened incident that a firing at `t.at` joins: started within the window before it,
 * or with an alert still firing. Newest first.
 */
async function groupFor(client: PoolClient, t: TransitionRow, windowMs: number): Promise<IncidentRow | undefined> {
  const { rows } = await client.query<IncidentRow>(
    `SELECT ${COLUMNS} FROM incidents i
      WHERE alert_rule_id = $1 AND status NOT IN ('resolved', 'closed')
        AND (started_at >= $2::timestamptz - make_interval(secs => $3::float8 / 1000)
             OR EXISTS (SELECT 1 FROM incident_alerts a WHERE a.incident_id = i.id AND a.resolved_at IS NULL))
      ORDER BY started_at DESC, id DESC LIMIT 1 FOR UPDATE`,
    [t.rule_id, t.at.toISOString(), windowMs],
  );
  return rows[0];
}

/** Attaches the series to the incident, firing (again). */
async function attach(client: PoolClient, incidentId: string, t: TransitionRow): Promise<void> {
  await client.query(
    `INSERT INTO incident_alerts (incident_id, rule_id, fingerprint, rule_name, labels, attached_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (incident_id, rule_id, fingerprint) DO UPDATE SET resolved_at = NULL`,
    [incidentId, t.rule_id, t.fingerprint, t.rule_name, JSON.stringify(t.labels), t.at.toISOString()],
  );
}

const details = (t: TransitionRow) => ({
  transition_id: Number(t.id),
  rule_id: t.rule_id,
  fingerprint: t.fingerprint,
  labels: t.labels,
  value: t.value,
});
const valueText = (t: TransitionRow) => (t.value === null ? '' : ` (value ${t.value})`);

async function onFiring(
  client: PoolClient,
  t: TransitionRow,
  opened: string[],
  opts: AutomationOptions,
): Promise<string> {
  const existing = await unresolvedFor(client, t);
  if (existing) {
    await attach(client, existing.id, t);
    await addEntries(client, existing.id, [
      {
        actor: ALERTER_SOURCE,
        kind: 'alert_firing',
        message: `alert ${describe(t)} firing again${valueText(t)}`,
        details: details(t),
        at: t.at,
      },
    ]);
    return existing.id;
  }
  const group = opts.groupWindowMs > 0 ? await groupFor(client, t, opts.groupWindowMs) : undefined;
  if (group) {
    await attach(client, group.id, t);
    await addEntries(client, group.id, [
      {
        actor: ALERTER_SOURCE,
        kind: 'alert_joined',
        message: `alert ${describe(t)} firing${valueText(t)}: joined this incident (alerts of one rule are grouped)`,
        details: details(t),
        at: t.at,
      },
    ]);
    return group.id;
  }
  const row = await insertIncident(
    client,
    {
      title: describe(t).slice(0, TITLE_MAX_CHARS),
      description: t.description,
      severity: t.severity ?? 'medium',
      assigned_to: null,
      sources: [],
      tags: {},
      started_at: t.at,
    },
    ALERTER_SOURCE,
    { ruleId: t.rule_id, fingerprint: t.fingerprint },
  );
  // The unique index makes a concurrent opener (a reopen racing us) lose cleanly: attach to the winner instead.
  const incident = row ?? (await unresolvedFor(client, t))!;
  await attach(client, incident.id, t);
  await addEntries(client, incident.id, [
    {
      actor: ALERTER_SOURCE,
      kind: row ? 'alert_opened' : 'alert_firing',
      message: row
        ? `opened by alert ${describe(t)} firing${valueText(t)}`
        : `alert ${describe(t)} firing${valueText(t)}`,
      details: details(t),
      at: t.at,
    },
  ]);
  if (row) opened.push(row.id);
  return incident.id;
}

async function onResolved(client: PoolClient, t: TransitionRow): Promise<string | null> {
  const { rows } = await client.query<IncidentRow>(
    `SELECT ${COLUMNS.split(', ')
      .map((c) => `i.${c}`)
      .join(', ')} FROM incident_alerts a JOIN incidents i ON i.id = a.incident_id
      WHERE a.rule_id = $1 AND a.fingerprint = $2
      ORDER BY (i.status NOT IN ('resolved', 'closed')) DESC, i.started_at DESC LIMIT 1 FOR UPDATE OF i`,
    [t.rule_id, t.fingerprint],
  );
  const incident = rows[0];
  if (!incident) return null; // fired before the incidents module existed
  await client.query(
    'UPDATE incident_alerts SET resolved_at = $4 WHERE incident_id = $1 AND rule_id = $2 AND fingerprint = $3',
    [incident.id, t.rule_id, t.fingerprint, t.at.toISOString()],
  );
  const [{ attached, firing }] = (
    await client.query<{ attached: string; firing: string }>(
      'SELECT count(*) AS attached, count(*) FILTER (WHERE resolved_at IS NULL) AS firing FROM incident_alerts WHERE ' +
        'incident_id = $1',
      [incident.id],
    )
  ).rows;
  const stillFiring = Number(firing);
  const rest =
    stillFiring === 1
      ? '; 1 alert of this incident still firing'
      : `; ${stillFiring} alerts of this incident still firing`;
  const message = `alert ${describe(t)} resolved${stillFiring > 0 ? rest : ''}`;
  await addEntries(client, incident.id, [
    { actor: ALERTER_SOURCE, kind: 'alert_resolved', message, details: details(t), at: t.at },
  ]);
  const target = t.annotations?.[ON_RESOLVE_ANNOTATION] as Status | undefined;
  if (stillFiring > 0) return incident.id; // the incident's on-resolve action waits for its last alert
  if (
    (target === 'monitoring' || target === 'resolved') &&
    isUnresolved(incident.status) &&
    incident.status !== target &&
    canMove(incident.status, target)
  ) {
    const why = Number(attached) > 1 ? `all ${attached} alerts of the incident resolved` : 'the alert resolved';
    await applyPatch(client, incident, { status: target });
    await addEntries(client, incident.id, [
      {
        actor: ALERTER_SOURCE,
        kind: 'status',
        message: `status ${incident.status} → ${target} (${why}; rule annotation ${ON_RESOLVE_ANNOTATION}=${target})`,
        details: { field: 'status', from: incident.status, to: target },
      },
    ]);
  }
  return incident.id;
}
