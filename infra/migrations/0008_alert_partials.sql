-- Partial aggregates for aggregating alert rules (sum/avg/max/min/count by …) when several alerter members share the
-- partitions: on every tick each member replaces the rows of the partitions it owns (fenced by
-- alert_partition_owners) with, per (rule, group), the sum, count, min and max of the series it holds; the member
-- that evaluates aggregations combines the fresh rows of every partition into exact results. UNLOGGED: the rows are
-- recomputed every tick, so they are not worth WAL; a crash empties the table and the next tick refills it.
CREATE UNLOGGED TABLE alert_partials (
    rule_id   uuid             NOT NULL,
    topic     text             NOT NULL,
    partition integer          NOT NULL,
    group_key text             NOT NULL,
    labels    jsonb            NOT NULL,
    sum       double precision NOT NULL,
    count     bigint           NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    at        timestamptz      NOT NULL,
    PRIMARY KEY (topic, partition, rule_id, group_key)
);
