-- The audit log: sensitive actions (alert rule and incident changes) and refused requests (401 token failures,
-- 403 role denials), read by admins through GET /api/v1/monitoring/audit, newest first. Written in batches by
-- shared/audit/audit-log.ts: refused requests repeated within one flush interval (same action, actor, address,
-- route and error code) are one row whose count says how many, from `at` to `last_at`, so a flood of bad tokens
-- costs a bounded number of rows. The maintenance role deletes rows older than AUDIT_RETENTION_DAYS.
CREATE TABLE audit_log (
    id      bigserial   PRIMARY KEY,
    at      timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    action  text        NOT NULL,
    actor   text,
    role    text,
    ip      text,
    target  text,
    count   integer     NOT NULL DEFAULT 1 CONSTRAINT positive_count CHECK (count > 0),
    details jsonb       NOT NULL DEFAULT '{}'
);

-- Newest first, whole log or one action or one actor; retention deletes by `at`.
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_action_at_idx ON audit_log (action, at DESC, id DESC);
CREATE INDEX audit_log_actor_at_idx ON audit_log (actor, at DESC, id DESC);
