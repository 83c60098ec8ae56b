-- Events and metric samples, range-partitioned on "timestamp" (partitions are created ahead of time by
-- shared/db/partitions.ts; retention drops whole partitions, never bulk DELETE).
-- Design from load measurements on the target machine: PRIMARY KEY (timestamp, id) is both the time index and the
-- idempotency key (a retried record carries the same id and timestamp); ids are time-ordered UUIDv7; no GIN on
-- tags (it costs ~1.6x load rate), one btree for the most common filter of each table.
--
-- COPY column order used by the writer (services/writer/copy-format.ts):
--   events:  id, timestamp, event_type, source, level, message, tags, payload, created_by
--   metrics: id, timestamp, name, metric_type, value, labels, created_by

CREATE TABLE events (
    id          uuid        NOT NULL,
    "timestamp" timestamptz NOT NULL,
    event_type  text        NOT NULL
        CONSTRAINT valid_event_type CHECK (event_type IN ('log', 'metric', 'trace', 'alert')),
    source      text        NOT NULL,
    level       text
        CONSTRAINT valid_level CHECK (level IN ('trace', 'debug', 'info', 'warn', 'error', 'fatal')),
    message     text,
    tags        jsonb       NOT NULL DEFAULT '{}',
    payload     jsonb       NOT NULL DEFAULT '{}',
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY ("timestamp", id)
) PARTITION BY RANGE ("timestamp");

CREATE INDEX events_source_timestamp_idx ON events (source, "timestamp");

CREATE TABLE metrics (
    id          uuid             NOT NULL,
    "timestamp" timestamptz      NOT NULL,
    name        text             NOT NULL,
    metric_type text             NOT NULL
        CONSTRAINT valid_metric_type CHECK (metric_type IN ('counter', 'gauge', 'histogram', 'summary')),
    value       double precision NOT NULL,
    labels      jsonb            NOT NULL DEFAULT '{}',
    created_by  text,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY ("timestamp", id)
) PARTITION BY RANGE ("timestamp");

CREATE INDEX metrics_name_timestamp_idx ON metrics (name, "timestamp");

-- The writer's source of truth for where each partition resumes: updated in the same transaction as the rows.
CREATE TABLE consumer_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    next_offset    bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
