-- Traces read back (services/query/traces.ts): OTLP spans are `trace` events and their logs carry tags.trace_id.
--
-- events_trace_id_idx finds every row of one trace: an expression index on tags->>'trace_id', partial so that only
-- rows carrying a trace id pay for it at ingest (PostgreSQL proves `tags->>'trace_id' = $1` implies the predicate,
-- so lookups use it). A lookup without a time range is one probe per partition. Priced against ingest in
-- bench/README.md (bench/trace-index-cost.ts): rows without a trace id cost only the predicates' evaluation, rows
-- with one an entry in a btree — far below a GIN index on all tags, which costs ~1.6× the load rate.
CREATE INDEX events_trace_id_idx ON events ((tags ->> 'trace_id'), "timestamp") WHERE (tags ->> 'trace_id') IS NOT NULL;

-- events_trace_roots_idx lists recent traces: root spans (no parent) by time, newest first, without walking every
-- event of the range. Only root spans are in it: one entry per trace.
CREATE INDEX events_trace_roots_idx ON events ("timestamp")
    WHERE event_type = 'trace' AND (tags ->> 'parent_span_id') IS NULL;
