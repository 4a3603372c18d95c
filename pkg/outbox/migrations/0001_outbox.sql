-- The transactional outbox: events written in the business transaction, published to JetStream by
-- outbox.Relay. Created in the service's schema (the first on the search_path).
CREATE TABLE outbox (
    id           bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    subject      text        NOT NULL,
    payload      bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     int         NOT NULL DEFAULT 0,
    last_error   text
);

-- The relay's queue: only pending rows, in id order; stays tiny when the relay keeps up.
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;

-- Finding published rows old enough to delete without scanning the whole table.
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
