/**
 * The Alertmanager v2 API (POST /api/v2/alerts), as Prometheus uses it: a firing alert is sent with endsAt four
 * re-send intervals ahead and re-sent while it fires (so Alertmanager resolves it by itself if vigil goes away); a
 * resolved one is sent once more with endsAt = the resolution time. Labels: alertname (the rule name), severity,
 * the rule's labels, then the instance's; annotations: the rule's, plus description, query and value.
 */
import type { Labels } from '../../../shared/promql/windows.ts';
import type { RuleInfo } from '../engine/state.ts';
import { postJson } from './http.ts';

/** A firing alert's endsAt lies this many resend intervals ahead, as Prometheus does. */
const ENDS_AT_RESEND_INTERVALS = 4;
const ALERTS_PER_POST = 500;

export interface AlertmanagerAlert {
  labels: Labels;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

export interface AlertSnapshot {
  rule: RuleInfo;
  labels: Labels;
  value: number | null;
  activeAt: number;
  /** Resolution time; null while firing. */
  resolvedAt: number | null;
}

export function toAlertmanager(alert: AlertSnapshot, now: number, resendMs: number): AlertmanagerAlert {
  const { rule } = alert;
  const annotations: Record<string, string> = { ...rule.annotations, query: rule.query };
  if (rule.description) annotations.description = rule.description;
  if (alert.value !== null) annotations.value = String(alert.value);
  return {
    labels: { ...rule.labels, ...alert.labels, alertname: rule.name, severity: rule.severity },
    annotations,
    startsAt: new Date(alert.activeAt).toISOString(),
    endsAt: new Date(alert.resolvedAt ?? now + ENDS_AT_RESEND_INTERVALS * resendMs).toISOString(),
  };
}

export class AlertmanagerClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** Posts the alerts; throws (retriable) on network errors and non-2xx answers. */
  async post(alerts: AlertmanagerAlert[]): Promise<void> {
    for (let i = 0; i < alerts.length; i += ALERTS_PER_POST) {
      await postJson(
        `${this.baseUrl}/api/v2/alerts`,
        JSON.stringify(alerts.slice(i, i + ALERTS_PER_POST)),
        {},
        this.timeoutMs,
      );
    }
  }
}
