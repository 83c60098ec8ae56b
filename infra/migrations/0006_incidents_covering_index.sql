-- Incident timelines read correlated events without visiting the table (services/incidents/timeline.ts): the
-- partial index of 0005 becomes a covering one. Each source's candidates (time, id) come from an index-only scan
-- that also checks the declared tags and skips alert events, and only the rows of the page asked for are read from
-- the table. Measured with 10M events (bench/incident.ts): reading every scanned row from the table made a cold
-- first page cost ~200 random page reads for two sources. Still partial: only warn-and-above and alert events
-- (~15% of the benchmark's rows) pay for it at ingest; the included columns add the tags' size to each entry.
DROP INDEX events_notable_source_timestamp_idx;

CREATE INDEX events_notable_idx ON events (source, "timestamp") INCLUDE (id, event_type, tags)
    WHERE level IN ('warn', 'error', 'fatal') OR event_type = 'alert';
