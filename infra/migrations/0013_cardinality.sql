-- Cardinality bounds and grouping (README "Alert rules", docs/incidents.md "Grouping").
--
-- alert_instances_rule_active_idx  one page of a rule's active instances, oldest first (GET /alerts?instances_limit
--                  =&instances_offset=), read from the index instead of sorting every instance of the rule.
-- incident_alerts.resolved_at      when the attached alert series last resolved (NULL: it fires). An incident that
--                  groups the firing alerts of a rule takes its on-resolve action (rule annotation incident_on_resolve)
--                  when the LAST of them resolves, not the first.
-- incidents_open_alert_rule_idx    the unresolved alert-opened incident of a rule, which later alerts of the rule join
--                  (INCIDENTS_GROUP_WINDOW_SECONDS).
-- metric_series_registry           the distinct series (name, series fingerprint) the writer stored, so it can refuse a
--                  new series of a name that already has METRICS_MAX_SERIES_PER_NAME. The fingerprint is a 16-hex-digit
--                  hash of the name and sorted labels (shared/schemas/metric.ts), the name bounded by
--                  INGEST_METRIC_NAME_MAX_LENGTH: no unbounded key. Rows older than the metric retention are deleted
--                  by the maintenance role; a series still sending registers again with its next sample.
-- metric_series_counts             registered series per name, moved with the registry in the same transactions: the
--                  writer locks a name's row while it registers series of that name, so two writers cannot both take
--                  its last slot, and reads the count without counting the registry.
CREATE INDEX alert_instances_rule_active_idx ON alert_instances (rule_id, active_at, fingerprint);

ALTER TABLE incident_alerts ADD COLUMN resolved_at timestamptz;
-- Series attached before this migration: resolved unless the alert still fires.
UPDATE incident_alerts a SET resolved_at = a.attached_at
 WHERE NOT EXISTS (SELECT 1 FROM alert_instances i
                    WHERE i.rule_id = a.rule_id AND i.fingerprint = a.fingerprint AND i.state = 'firing');

CREATE INDEX incidents_open_alert_rule_idx ON incidents (alert_rule_id, started_at DESC)
    WHERE alert_rule_id IS NOT NULL AND status NOT IN ('resolved', 'closed');

CREATE TABLE metric_series_registry (
    name        text        NOT NULL,
    fingerprint text        NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, fingerprint)
);

CREATE INDEX metric_series_registry_first_seen_idx ON metric_series_registry (first_seen);

CREATE TABLE metric_series_counts (
    name   text   PRIMARY KEY,
    series bigint NOT NULL CHECK (series >= 0)
);
