-- The Kafka cluster a consumer group's stored offsets (consumer_offsets) refer to. Offsets are positions in one
-- cluster's topics: against another cluster (a new broker data directory, a restored or replaced cluster) the same
-- numbers point at different records, and resuming from them would skip records that were never stored. The writer
-- compares the id at start and, on a change, discards the group's offsets so it reads the new cluster's topics from
-- their beginning (services/writer/offset-store.ts).
CREATE TABLE consumer_offset_clusters (
    consumer_group text        PRIMARY KEY,
    cluster_id     text        NOT NULL,
    bound_at       timestamptz NOT NULL DEFAULT now()
);
