-- Indexes and state of the query service (services/query).
--
-- events_id_idx: GET /events/{id}. The id is not the partition key; with this index a lookup is one probe per
-- partition, and the UUIDv7 time embedded in gateway-assigned ids narrows it to one or two partitions. UUIDv7 ids
-- are time-ordered, so the index grows at its right edge like the primary key (bench/README.md prices it).
CREATE INDEX events_id_idx ON events (id);

-- metric_series: the running state of every metric series for the Prometheus exposition, folded in the background
-- by services/query/series-fold.ts from samples *inserted* before metric_series_fold.folded_before. Scrapes add the
-- samples inserted since (found through the BRIN index on created_at below), so they read O(series) rows instead of
-- every stored sample, and counters keep counting when retention drops old partitions.
--   sample_count   samples (observations) ever stored for the series
--   value_sum      sum of their values: a counter's running total (samples are increments), a histogram's/summary's _sum
--   last_*         the sample with the greatest timestamp: a gauge's current value
--   bucket_counts  histograms: cumulative counts of observations <= each bound of metric_series_fold.bucket_bounds
CREATE TABLE metric_series (
    name           text             NOT NULL,
    metric_type    text             NOT NULL,
    labels         jsonb            NOT NULL,
    sample_count   bigint           NOT NULL,
    value_sum      double precision NOT NULL,
    last_timestamp timestamptz      NOT NULL,
    last_value     double precision NOT NULL,
    bucket_counts  bigint[],
    PRIMARY KEY (name, metric_type, labels)
) WITH (fillfactor = 70);

-- One row: samples with created_at < folded_before are in metric_series, the others are not (yet).
CREATE TABLE metric_series_fold (
    singleton     boolean            PRIMARY KEY DEFAULT true CHECK (singleton),
    folded_before timestamptz        NOT NULL,
    bucket_bounds double precision[] NOT NULL,
    folded_at     timestamptz
);

-- created_at is the inserting transaction's start (DEFAULT now()), appended in heap order: a BRIN index finds the
-- recently inserted rows of every partition (late samples land in old partitions too) at almost no ingest cost.
CREATE INDEX metrics_created_at_brin_idx ON metrics USING brin (created_at) WITH (pages_per_range = 16, autosummarize = on);

CREATE FUNCTION vigil_add_counts(a bigint[], b bigint[]) RETURNS bigint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a IS NULL THEN b
                WHEN b IS NULL THEN a
                ELSE (SELECT array_agg(x + y ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)) END
$$;
