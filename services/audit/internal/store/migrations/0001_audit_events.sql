-- The audit log: one row per recorded change event, chained by SHA-256 (see internal/audit).
-- sequence is assigned by the service under an advisory lock (last + 1), not by a SQL sequence,
-- so that the chain has no gaps even when an insert fails.
CREATE TABLE audit_events (
    sequence    bigint      PRIMARY KEY CHECK (sequence > 0),
    event_id    uuid        NOT NULL UNIQUE,
    event_type  text        NOT NULL,
    source      text        NOT NULL,
    entity_type text        NOT NULL,
    entity_id   text        NOT NULL,
    event_time  timestamptz NOT NULL,
    actor_id    text        NOT NULL,
    actor_role  text        NOT NULL,
    actor_team  text        NOT NULL,
    -- Canonical encoding of the changed fields (length-prefixed deterministic protobuf
    -- crm.common.v1.FieldChange messages); hashed exactly as stored.
    changes     bytea       NOT NULL,
    trace_id    text        NOT NULL,
    record_time timestamptz NOT NULL DEFAULT now(),
    prev_hash   text        NOT NULL CHECK (length(prev_hash) = 64),
    hash        text        NOT NULL CHECK (length(hash) = 64)
);

-- Every list is keyset paged by sequence, newest first; each filter gets an index that yields
-- its rows in that order.
CREATE INDEX audit_events_entity_id_idx   ON audit_events (entity_id, sequence DESC);
CREATE INDEX audit_events_entity_type_idx ON audit_events (entity_type, sequence DESC);
CREATE INDEX audit_events_actor_id_idx    ON audit_events (actor_id, sequence DESC);
CREATE INDEX audit_events_event_type_idx  ON audit_events (event_type, sequence DESC);
CREATE INDEX audit_events_event_time_idx  ON audit_events (event_time);

-- Append-only: rows can be inserted, never changed or removed. Tampering needs a superuser or
-- the table owner disabling the triggers, and the hash chain still shows it.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- Statement level, so that even an UPDATE or DELETE matching no row is refused.
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Messages the consumer could not record after its last delivery attempt, kept for an operator
-- to inspect and replay. One row per stream message.
CREATE TABLE dead_letters (
    stream_seq  bigint      PRIMARY KEY,
    subject     text        NOT NULL,
    msg_id      text        NOT NULL,
    headers     jsonb       NOT NULL,
    data        bytea       NOT NULL,
    reason      text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
