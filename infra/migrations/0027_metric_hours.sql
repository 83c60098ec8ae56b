-- metric_hours: per series and hour, that hour's metric_minutes rows packed into arrays, so that a PromQL panel over
-- a day reads 24 rows per series instead of 1,440 (services/query/promql-data.ts unpacks them in Node). Hour h holds
-- the minutes m with h * 60 < m <= h * 60 + 60 (the samples in (h hours, h + 1 hours]). Each bytea holds one entry
-- per minute that has samples, in minute order, big-endian: last_ms, last_value and value_sums float8, sample_counts
-- int4 (the columns of metric_minutes; an entry's minute is ceil(last_ms / 60000)). A row holds at most 60 entries
-- (under 2 kB): PLAIN storage keeps it in its heap page, neither compressed nor out of line.
-- The series fold (services/query/series-fold.ts) keeps, in the transaction that moves its watermark, every hour in
-- [hours_from, hours_before) equal to the packing of metric_minutes for that hour: it adds the hours that close
-- (hours_before moves forward), rebuilds those that late samples change, and builds older hours a few at a time
-- (hours_from moves back) until it reaches the oldest minute: an upgrade does not rebuild the past at startup.
CREATE TABLE metric_hours (
  name text NOT NULL,
  metric_type text NOT NULL,
  series bytea NOT NULL,
  hour integer NOT NULL,
  last_ms bytea NOT NULL,
  last_value bytea NOT NULL,
  sample_counts bytea NOT NULL,
  value_sums bytea NOT NULL,
  PRIMARY KEY (name, metric_type, series, hour)
);
ALTER TABLE metric_hours ALTER COLUMN last_ms SET STORAGE PLAIN,
  ALTER COLUMN last_value SET STORAGE PLAIN, ALTER COLUMN sample_counts SET STORAGE PLAIN,
  ALTER COLUMN value_sums SET STORAGE PLAIN;
CREATE INDEX metric_hours_hour_idx ON metric_hours (hour);

-- The hours metric_hours holds (NULL: none yet), and the created_at up to which the fold kept them in step with
-- metric_minutes (an older replica moves minutes_before alone: the next fold rebuilds what it changed, and readers
-- use metric_hours only while hours_synced_before = minutes_before).
ALTER TABLE metric_series_fold ADD COLUMN hours_from integer, ADD COLUMN hours_before integer,
  ADD COLUMN hours_synced_before timestamptz;
