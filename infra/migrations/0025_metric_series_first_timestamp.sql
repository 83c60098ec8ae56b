-- metric_series.first_timestamp: the earliest sample time of each folded series, beside last_timestamp, so the
-- Prometheus API's series, labels and label values endpoints list the series whose samples span [start, end]
-- (first_timestamp <= end AND last_timestamp >= start) instead of every series seen since `start`. The fold
-- (services/query/series-fold.ts) keeps it as the least of the folded samples' times; existing rows take the
-- earliest sample still stored (or their last one when retention removed them all). NULL means unknown (a row
-- folded by a query replica older than this column while another applied it): the series counts as starting at
-- -infinity, and a fold keeps it unknown.
ALTER TABLE metric_series ADD COLUMN first_timestamp timestamptz;
UPDATE metric_series s SET first_timestamp = f.first
  FROM (SELECT name, metric_type, labels, min("timestamp") AS first FROM metrics GROUP BY name, metric_type, labels) f
 WHERE f.name = s.name AND f.metric_type = s.metric_type AND f.labels = s.labels;
UPDATE metric_series SET first_timestamp = last_timestamp WHERE first_timestamp IS NULL;
