-- Incident timelines show the alerter's alert events (other alerts that fired around an incident), and trust only
-- those the alerter itself stored: source vigil-alerter AND created_by vigil-alerter (services/incidents/timeline.ts).
-- created_by is not in events_notable_idx (0006), so reading them through it would visit the table for every
-- candidate; this partial index holds only the alerter's own alert events (a few per alert that fires or
-- resolves), in the timeline's order, with the tags it filters on, so that read stays index-only.
CREATE INDEX events_system_alerts_idx ON events ("timestamp", id) INCLUDE (tags)
    WHERE source = 'vigil-alerter' AND event_type = 'alert' AND created_by = 'vigil-alerter';
