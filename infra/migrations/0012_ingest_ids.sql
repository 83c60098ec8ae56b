-- Idempotency of producer-chosen ids. The primary key (timestamp, id) of events and metrics stores a retried record
-- once only when the retry carries the same timestamp, and a record sent without one gets its arrival time: a
-- resend was stored twice. So the writer also claims every id the producer chose (id_given in the Kafka record) here,
-- in the same transaction as the COPY, and leaves out the items whose id is already claimed: an id is stored once
-- per kind, whatever its UUID version or timestamp, as long as its claim is kept. Ids the gateway or the writer
-- generate are never written here (they are unique by construction), so the common path pays nothing.
-- The maintenance role deletes claims older than INGEST_IDEMPOTENCY_WINDOW_HOURS (default 24): the documented
-- window within which a resend is recognised. Not partitioned by time: the key must be the id alone.
CREATE TABLE ingest_ids (
    kind      text        NOT NULL CONSTRAINT valid_kind CHECK (kind IN ('event', 'metric')),
    id        uuid        NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);

-- Claims arrive in time order: a BRIN index finds the expired ones at almost no cost per claim.
CREATE INDEX ingest_ids_stored_at_idx ON ingest_ids USING brin (stored_at);
