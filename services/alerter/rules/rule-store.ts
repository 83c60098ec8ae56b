/**
 * alert_rules in PostgreSQL: the REST routes write through it, alerters read the whole set when its revision
 * moves (every insert and update takes a new revision from a sequence; a delete lowers the count).
 */
import { isUniqueViolation } from '../../../shared/db/errors.ts';
import type { Pool } from '../../../shared/db/pool.ts';
import type { RuleDefinition, Severity } from './rule.ts';
import { uuidv7 } from '../../../shared/schemas/uuid7.ts';

import { MS_PER_SECOND } from '../../../shared/units.ts';

export interface RuleFields {
  name: string;
  description: string | null;
  query: string;
  threshold_value: number | null;
  forMs: number;
  keepFiringForMs: number;
  severity: Severity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  enabled: boolean;
}

interface RuleRow {
  id: string;
  name: string;
  description: string | null;
  query: string;
  threshold_value: number | null;
  for_seconds: number;
  keep_firing_for_seconds: number;
  severity: Severity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  enabled: boolean;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
  revision: string;
}

const COLUMNS =
  'id, name, description, query, threshold_value, for_seconds, keep_firing_for_seconds, severity, labels, ' +
  'annotations, enabled, created_by, created_at, updated_at, revision';

/** Another rule already has the name (case-insensitively). */
export class DuplicateRuleNameError extends Error {}

export class RuleStore {
  constructor(private readonly pool: Pool) {}

  /** A cheap fingerprint of the whole rule set: changes whenever a rule is created, updated or deleted. */
  async revision(): Promise<string> {
    const { rows } = await this.pool.query<{ rev: string; n: string }>(
      'SELECT coalesce(max(revision), 0) AS rev, count(*) AS n FROM alert_rules',
    );
    return `${rows[0].rev}/${rows[0].n}`;
  }

  async all(): Promise<RuleDefinition[]> {
    const { rows } = await this.pool.query<RuleRow>(`SELECT ${COLUMNS} FROM alert_rules ORDER BY created_at, id`);
    return rows.map(toDefinition);
  }

  async get(id: string): Promise<RuleDefinition | null> {
    const { rows } = await this.pool.query<RuleRow>(`SELECT ${COLUMNS} FROM alert_rules WHERE id = $1`, [id]);
    return rows.length === 0 ? null : toDefinition(rows[0]);
  }

  async create(fields: RuleFields, createdBy: string): Promise<RuleDefinition> {
    return this.unique(async () => {
      const { rows } = await this.pool.query<RuleRow>(
        `INSERT INTO alert_rules (id, name, description, query, threshold_value, for_seconds, keep_firing_for_seconds,
           severity, labels, annotations, enabled, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ${COLUMNS}`,
        [uuidv7(), ...values(fields), createdBy],
      );
      return toDefinition(rows[0]);
    });
  }

  async update(id: string, fields: RuleFields): Promise<RuleDefinition | null> {
    return this.unique(async () => {
      const { rows } = await this.pool.query<RuleRow>(
        `UPDATE alert_rules SET name = $2, description = $3, query = $4, threshold_value = $5, for_seconds = $6,
                keep_firing_for_seconds = $7, severity = $8, labels = $9, annotations = $10, enabled = $11,
                updated_at = now(), revision = nextval('alert_rules_revision_seq')
          WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, ...values(fields)],
      );
      return rows.length === 0 ? null : toDefinition(rows[0]);
    });
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('DELETE FROM alert_rules WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  private async unique<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (isUniqueViolation(error)) throw new DuplicateRuleNameError();
      throw error;
    }
  }
}

function values(f: RuleFields): unknown[] {
  return [
    f.name,
    f.description,
    f.query,
    f.threshold_value,
    f.forMs / MS_PER_SECOND,
    f.keepFiringForMs / MS_PER_SECOND,
    f.severity,
    JSON.stringify(f.labels),
    JSON.stringify(f.annotations),
    f.enabled,
  ];
}

function toDefinition(row: RuleRow): RuleDefinition {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    query: row.query,
    threshold_value: row.threshold_value,
    forMs: row.for_seconds * MS_PER_SECOND,
    keepFiringForMs: row.keep_firing_for_seconds * MS_PER_SECOND,
    severity: row.severity,
    labels: row.labels,
    annotations: row.annotations,
    enabled: row.enabled,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    revision: row.revision,
  };
}
