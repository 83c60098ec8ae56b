-- The root-cause analysis reads the alerts that went pending or firing in an incident's window, by time across
-- every rule: transitions are few (one per state change of a series), so the index costs little.
CREATE INDEX alert_transitions_at_idx ON alert_transitions (at);
