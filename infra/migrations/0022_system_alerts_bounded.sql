-- The alerter's alert events carry their series' labels as tags, which can outgrow an index entry (PostgreSQL refuses
-- a btree row over ~2.7 kB, and the writer would dead-letter the alerter's own event). events_system_alerts_idx
-- (0017) included the whole tags; it now includes notable_tags (0011), which the writer fills only when they fit, so
-- timelines read the tags from the index when it holds them and from the row otherwise
-- (services/incidents/timeline.ts tagsMatch).
DROP INDEX events_system_alerts_idx;
CREATE INDEX events_system_alerts_idx ON events ("timestamp", id) INCLUDE (notable_tags)
    WHERE source = 'vigil-alerter' AND event_type = 'alert' AND created_by = 'vigil-alerter';
