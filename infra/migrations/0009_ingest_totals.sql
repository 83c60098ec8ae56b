-- Stored-row totals per UTC day, kind and Kafka partition, maintained by the writer in the SAME transaction as the
-- rows, the per-minute rollups and the offsets. GET /stats and the Prometheus scrape read their all-time totals
-- here (a few rows per day) instead of summing every per-minute rollup row (minutes × keys: millions of rows after
-- a few days). One row per partition: only the partition's current owner updates it, so writers of different
-- partitions never wait on each other's row locks, which a single counter row per day would make them do.
-- partition -1 holds the totals derived from the rollups that existed when this migration ran.
-- The maintenance role deletes a day's rows when it drops that day's rollups partition, so both agree.
CREATE TABLE ingest_totals (
    day       date    NOT NULL,
    kind      text    NOT NULL CONSTRAINT valid_kind CHECK (kind IN ('event', 'metric')),
    partition integer NOT NULL,
    count     bigint  NOT NULL,
    PRIMARY KEY (day, kind, partition)
);

INSERT INTO ingest_totals (day, kind, partition, count)
SELECT (bucket AT TIME ZONE 'UTC')::date, kind, -1, sum(count)
  FROM rollups
 GROUP BY 1, 2;
