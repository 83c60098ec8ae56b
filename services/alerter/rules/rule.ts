/**
 * An alert rule as stored (table alert_rules) and as the engine runs it (with its compiled query).
 */
import type { CompiledQuery } from '../../../shared/promql/compile.ts';
import type { Labels } from '../../../shared/promql/windows.ts';

/** The incident severities of the contract, so that an alert maps onto an incident without translation. */
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface RuleDefinition {
  id: string;
  name: string;
  description: string | null;
  query: string;
  threshold_value: number | null;
  forMs: number;
  keepFiringForMs: number;
  severity: Severity;
  labels: Labels;
  annotations: Record<string, string>;
  enabled: boolean;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
  revision: string;
}

export type EngineRule = RuleDefinition & CompiledQuery;
