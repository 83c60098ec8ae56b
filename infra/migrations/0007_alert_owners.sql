-- Ownership fence for alert states. An alerter member that takes over a partition of the metrics or events topic
-- (or, with topic '' and partition -1, the aggregations) claims it with a new generation from the sequence before
-- it loads the partition's states; every save of alert states checks, under a share lock on these rows, that the
-- saving member still holds the generation it claimed, and drops the changes of partitions it no longer owns. So a
-- member that lost a partition in a rebalance cannot overwrite the new owner's states or add transitions (and
-- notifications) after the new owner has loaded them.
CREATE SEQUENCE alert_owner_generation_seq;

CREATE TABLE alert_partition_owners (
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    generation bigint      NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
