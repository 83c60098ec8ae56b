-- metric_minutes: per series and minute, the newest sample and the count and sum of the minute's samples, kept by
-- the series fold (services/query/series-fold.ts) in the transaction that moves its watermark, so that the PromQL
-- loader (services/query/promql-data.ts) reads one row per series and minute instead of every sample when an
-- instant selector is evaluated at whole minutes. Minute m holds the samples whose time in milliseconds t
-- (extract(epoch) * 1000, as float8, as the loader computes it) satisfies ceil(t / 60000) = m, i.e. the minute
-- ((m - 1) min, m min]: the newest sample at or before a whole minute is the newest of that minute's row and the
-- rows before. A series is metric_series' key: name, metric_type and sha256(jsonb_send(labels)).
-- The primary key orders a series' minutes and includes the other columns, so a (series, minute range) read is one
-- index-only range scan (the fold writes each minute of every series at once: in the heap a series' minutes lie on
-- as many pages as minutes); the index on minute serves the fold's retention delete (a BRIN index would not: the
-- minutes below are written in series order).
CREATE TABLE metric_minutes (
  name text NOT NULL,
  metric_type text NOT NULL,
  series bytea NOT NULL,
  minute integer NOT NULL,
  last_ms double precision NOT NULL,
  last_value double precision NOT NULL,
  sample_count integer NOT NULL,
  value_sum double precision NOT NULL,
  PRIMARY KEY (name, metric_type, series, minute) INCLUDE (last_ms, last_value, sample_count, value_sum)
);
CREATE INDEX metric_minutes_minute_idx ON metric_minutes (minute);

-- metric_minutes' own watermark: it holds exactly the samples with created_at < minutes_before (NULL: -infinity).
-- The fold moves it with folded_before; a query replica older than this table moves only folded_before, and the
-- next fold adds the minutes of the samples in between. The loader reads the samples from minutes_before on.
ALTER TABLE metric_series_fold ADD COLUMN minutes_before timestamptz;
UPDATE metric_series_fold SET minutes_before = folded_before;

-- The minutes of what is already folded (the fold adds what comes after its watermark).
INSERT INTO metric_minutes (name, metric_type, series, minute, last_ms, last_value, sample_count, value_sum)
SELECT name, metric_type, series, minute, last[1], last[2], n, total
  FROM (SELECT name, metric_type, sha256(jsonb_send(labels)) AS series, ceil(t / 60000)::integer AS minute,
               max(ARRAY[t, value]) AS last, count(*)::integer AS n, sum(value) AS total
          FROM (SELECT name, metric_type, labels, (extract(epoch FROM "timestamp") * 1000)::float8 AS t, value
                  FROM metrics
                 WHERE created_at < (SELECT folded_before FROM metric_series_fold)) folded
         GROUP BY 1, 2, 3, 4) minutes
 ORDER BY name, metric_type, series, minute;
