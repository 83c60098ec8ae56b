-- Alert rules, the alerter's durable per-(rule, series) states, and the history of every transition.
--
-- alert_rules      one row per rule (REST /api/v1/monitoring/alerts). `revision` takes a new value from a sequence
--                  on every insert and update, so alerters notice changes with one cheap query.
-- alert_instances  the states that are not inactive: one row per (rule, instance fingerprint) while pending or
--                  firing; deleted when the instance resolves or goes back to inactive. topic/partition name the
--                  Kafka partition whose owner evaluates it (NULL for aggregations: the owner of partition 0 of the
--                  metrics topic). active_alerts (stats) = SELECT count(*) FROM alert_instances WHERE state = 'firing'.
-- alert_transitions every transition with its value and time (the queryable alert history), and the hand-off to
--                  the incidents logic: read rows in id order (to_state 'firing' opens, 'resolved' resolves).
--                  delivered_at is set once the alert event and the notifications for the transition went out; an
--                  alerter re-sends transitions left undelivered by a crash (outbox).
CREATE SEQUENCE alert_rules_revision_seq;

CREATE TABLE alert_rules (
    id                      uuid        PRIMARY KEY,
    name                    text        NOT NULL,
    description             text,
    query                   text        NOT NULL,
    threshold_value         double precision,
    for_seconds             integer     NOT NULL DEFAULT 0 CHECK (for_seconds >= 0),
    keep_firing_for_seconds integer     NOT NULL DEFAULT 0 CHECK (keep_firing_for_seconds >= 0),
    severity                text        NOT NULL DEFAULT 'medium'
        CONSTRAINT valid_severity CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    labels                  jsonb       NOT NULL DEFAULT '{}',
    annotations             jsonb       NOT NULL DEFAULT '{}',
    enabled                 boolean     NOT NULL DEFAULT true,
    created_by              text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    revision                bigint      NOT NULL DEFAULT nextval('alert_rules_revision_seq')
);

CREATE UNIQUE INDEX alert_rules_name_idx ON alert_rules (lower(name));

CREATE TABLE alert_instances (
    rule_id           uuid             NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    fingerprint       text             NOT NULL,
    labels            jsonb            NOT NULL,
    state             text             NOT NULL CONSTRAINT valid_state CHECK (state IN ('pending', 'firing')),
    value             double precision NOT NULL,
    active_at         timestamptz      NOT NULL,
    fired_at          timestamptz,
    keep_firing_since timestamptz,
    topic             text,
    partition         integer,
    updated_at        timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, fingerprint)
);

CREATE INDEX alert_instances_owner_idx ON alert_instances (topic, partition);
CREATE INDEX alert_instances_firing_idx ON alert_instances (state) WHERE state = 'firing';

CREATE TABLE alert_transitions (
    id           bigserial        PRIMARY KEY,
    rule_id      uuid             NOT NULL,
    rule_name    text             NOT NULL,
    fingerprint  text             NOT NULL,
    labels       jsonb            NOT NULL,
    from_state   text             NOT NULL CHECK (from_state IN ('inactive', 'pending', 'firing')),
    to_state     text             NOT NULL CHECK (to_state IN ('inactive', 'pending', 'firing', 'resolved')),
    value        double precision,
    active_at    timestamptz      NOT NULL,
    at           timestamptz      NOT NULL,
    created_at   timestamptz      NOT NULL DEFAULT now(),
    delivered_at timestamptz
);

CREATE INDEX alert_transitions_rule_idx ON alert_transitions (rule_id, at);
CREATE INDEX alert_transitions_undelivered_idx ON alert_transitions (id) WHERE delivered_at IS NULL;
