-- Whatever the gateway acknowledges, PostgreSQL must accept: no index key (key or included columns) may grow with
-- what a producer sends beyond the btree limit (~2.7 KB per entry; larger entries make the whole row fail).
--   source, metric name      bounded by the configuration (INGEST_SOURCE_MAX_LENGTH ≤ 512 characters,
--                            INGEST_METRIC_NAME_MAX_LENGTH ≤ 1024): the (source, timestamp), (name, timestamp) and
--                            rollups keys stay far below the limit.
--   events_notable_idx       included the tags (up to INGEST_TAGS_MAX_BYTES): an error event with a few KB of
--                            incompressible tags was acknowledged and then refused. It now includes notable_tags,
--                            which the writer sets to the tags of a notable event only when they are small enough for
--                            the entry to fit (services/writer/copy-format.ts), and leaves NULL otherwise: readers
--                            take the tags from the row for those (services/incidents/timeline.ts). Rows stored
--                            before this migration have NULL there too, so they are read the same way.
--   metric_series            its primary key held the labels (up to 32 values of 1 KB): a series with a few KB of
--                            labels made every fold fail. The key is now the labels' SHA-256.
--   alert_partials.group_key the alerter stores a digest of the group's label values (services/alerter/engine).
ALTER TABLE events ADD COLUMN notable_tags jsonb;

DROP INDEX events_notable_idx;

CREATE INDEX events_notable_idx ON events (source, "timestamp") INCLUDE (id, event_type, notable_tags)
    WHERE level IN ('warn', 'error', 'fatal') OR event_type = 'alert';

ALTER TABLE metric_series DROP CONSTRAINT metric_series_pkey;

CREATE UNIQUE INDEX metric_series_key_idx ON metric_series (name, metric_type, sha256(jsonb_send(labels)));
