-- Per-minute ingest counters, maintained by the writer in the SAME transaction as the rows and the consumer
-- offsets, so statistics never need count(*) over the raw tables and never count a record twice.
--   kind        'event' or 'metric'
--   event_type  events: event_type (log, metric, trace, alert); metrics: metric_type (counter, gauge, ...)
--   source      events: source;                                 metrics: the metric name
--   level       events: level, '' when absent;                  metrics: ''
-- Range-partitioned by day on bucket (rollups_pYYYYMMDD, always daily whatever PARTITION_GRANULARITY says: a
-- day of rollups is small); the maintenance role drops them after the longer of the two retentions.
CREATE TABLE rollups (
    bucket     timestamptz NOT NULL,
    kind       text        NOT NULL CONSTRAINT valid_kind CHECK (kind IN ('event', 'metric')),
    event_type text        NOT NULL,
    source     text        NOT NULL,
    level      text        NOT NULL DEFAULT '',
    count      bigint      NOT NULL,
    PRIMARY KEY (bucket, kind, event_type, source, level)
) PARTITION BY RANGE (bucket);
