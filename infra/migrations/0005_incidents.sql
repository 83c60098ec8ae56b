-- Incidents (services/incidents): the incident itself, its timeline of changes, the alert series attached to it,
-- the inbox of alert transitions still to apply, and stored analyses.
--
-- incidents            one row per incident. status follows services/incidents/lifecycle.ts. alert_rule_id and
--                      alert_fingerprint are set on incidents an alert opened: the partial unique index below
--                      allows ONE unresolved incident per alert series, so two workers (or a redelivered
--                      transition) cannot open two; they attach to the one that exists. open_incidents (stats) =
--                      count of rows whose status is neither resolved nor closed.
-- incident_timeline    every change (who, what, when) and every automatic action, in `at` order.
-- incident_alerts      alert series (rule, fingerprint) attached to an incident: their sources and labels widen
--                      the correlated events of the timeline, and their transitions appear in it.
-- incident_transitions one row per alert transition applied (PRIMARY KEY transition_id): applying the same
--                      transition twice (redelivery, restart, two workers) is refused by the key, not by a check.
-- incident_inbox       alert transitions to firing/resolved not applied yet, filled by a trigger on
--                      alert_transitions in the alerter's own transaction (so none is missed and none arrives
--                      before it is committed: reading alert_transitions by id would skip ids committed late).
--                      The worker deletes rows in the transaction that applies them.
-- incident_analyses    root-cause analyses (services/incidents/analysis), newest per incident first.

CREATE TABLE incidents (
    id                 uuid        PRIMARY KEY,
    title              text        NOT NULL,
    description        text,
    severity           text        NOT NULL
        CONSTRAINT valid_incident_severity CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    status             text        NOT NULL DEFAULT 'open'
        CONSTRAINT valid_incident_status CHECK (status IN ('open', 'investigating', 'identified', 'monitoring', 'resolved', 'closed')),
    root_cause         text,
    assigned_to        text,
    created_by         text        NOT NULL,
    sources            text[]      NOT NULL DEFAULT '{}',
    tags               jsonb       NOT NULL DEFAULT '{}',
    alert_rule_id      uuid,
    alert_fingerprint  text,
    started_at         timestamptz NOT NULL,
    resolved_at        timestamptz,
    closed_at          timestamptz,
    analysis_due       boolean     NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX incidents_open_alert_series_idx ON incidents (alert_rule_id, alert_fingerprint)
    WHERE alert_rule_id IS NOT NULL AND status NOT IN ('resolved', 'closed');
-- Listing: newest first, for everyone (moderator+) or one person (created or assigned).
CREATE INDEX incidents_started_idx ON incidents (started_at DESC, id DESC);
CREATE INDEX incidents_created_by_idx ON incidents (created_by, started_at DESC);
CREATE INDEX incidents_assigned_to_idx ON incidents (assigned_to, started_at DESC) WHERE assigned_to IS NOT NULL;
CREATE INDEX incidents_unresolved_idx ON incidents (status) WHERE status NOT IN ('resolved', 'closed');
CREATE INDEX incidents_analysis_due_idx ON incidents (created_at) WHERE analysis_due;

CREATE TABLE incident_timeline (
    id          bigserial   PRIMARY KEY,
    incident_id uuid        NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    kind        text        NOT NULL,
    message     text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX incident_timeline_incident_idx ON incident_timeline (incident_id, at, id);

CREATE TABLE incident_alerts (
    incident_id uuid        NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    rule_id     uuid        NOT NULL,
    fingerprint text        NOT NULL,
    rule_name   text        NOT NULL,
    labels      jsonb       NOT NULL,
    attached_at timestamptz NOT NULL,
    PRIMARY KEY (incident_id, rule_id, fingerprint)
);

CREATE TABLE incident_transitions (
    transition_id bigint      PRIMARY KEY,
    incident_id   uuid        REFERENCES incidents (id) ON DELETE CASCADE,
    applied_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE incident_inbox (
    transition_id bigint PRIMARY KEY
);

CREATE FUNCTION vigil_incident_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incident_inbox (transition_id)
    SELECT id FROM inserted WHERE to_state IN ('firing', 'resolved')
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER alert_transitions_incident_inbox AFTER INSERT ON alert_transitions
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION vigil_incident_inbox();

CREATE TABLE incident_analyses (
    id          bigserial   PRIMARY KEY,
    incident_id uuid        NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    computed_at timestamptz NOT NULL DEFAULT now(),
    trigger     text        NOT NULL CHECK (trigger IN ('open', 'request')),
    result      jsonb       NOT NULL
);

CREATE INDEX incident_analyses_incident_idx ON incident_analyses (incident_id, computed_at DESC);

-- Correlated events of a timeline and the error events of an analysis: warn and above, and alert events, by
-- source and time. Partial, so only those rows (a small share of the traffic) pay for it at ingest.
CREATE INDEX events_notable_source_timestamp_idx ON events (source, "timestamp")
    WHERE level IN ('warn', 'error', 'fatal') OR event_type = 'alert';
