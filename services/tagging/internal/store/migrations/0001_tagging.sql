-- Tag definitions (标签). category is the domain's spelling (level, industry, need, behavior,
-- source, custom); category_rank orders categories for display; name_key is the name folded for
-- uniqueness (case, width and spaces ignored).
CREATE TABLE tags (
    id            text PRIMARY KEY,
    category      text NOT NULL,
    category_rank smallint NOT NULL,
    name          text NOT NULL,
    name_key      text NOT NULL,
    description   text NOT NULL DEFAULT '',
    color         text NOT NULL DEFAULT '',
    -- for level tags: high, medium or low
    level_value   text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text NOT NULL,
    deleted_at    timestamptz,
    deleted_by    text NOT NULL DEFAULT '',
    version       bigint NOT NULL DEFAULT 1,
    CHECK ((category = 'level') = (level_value <> ''))
);
CREATE UNIQUE INDEX tags_name_live ON tags (category, name_key) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX tags_level_live ON tags (level_value) WHERE level_value <> '' AND deleted_at IS NULL;
CREATE INDEX tags_name_key_live ON tags (name_key) WHERE deleted_at IS NULL;
CREATE INDEX tags_order ON tags (category_rank, name_key, id);

-- The level category is seeded; ids from a day long past never meet the allocator's.
INSERT INTO tags (id, category, category_rank, name, name_key, description, level_value, created_at, created_by, updated_at, updated_by) VALUES
    ('T20000101001', 'level', 1, '高价值', '高价值', '客户等级：高价值客户', 'high',   now(), 'system', now(), 'system'),
    ('T20000101002', 'level', 1, '中价值', '中价值', '客户等级：中价值客户', 'medium', now(), 'system', now(), 'system'),
    ('T20000101003', 'level', 1, '低价值', '低价值', '客户等级：低价值客户', 'low',    now(), 'system', now(), 'system');

-- Per-customer tagging state, and the row every change of a customer's tags locks first, so that
-- changes of one customer's tags are serialised: its level (from its level tag, '' for none), the
-- version of its level (the entity_version of customer_level.changed events) and of its tag set
-- (the entity_version of customer_tag events).
CREATE TABLE customer_state (
    customer_id   text PRIMARY KEY,
    level         text NOT NULL DEFAULT '',
    level_version bigint NOT NULL DEFAULT 0,
    tags_version  bigint NOT NULL DEFAULT 0
);
CREATE INDEX customer_state_level ON customer_state (level) WHERE level <> '';

-- Tags assigned to customers. category repeats the tag's (which never changes) so that the
-- database itself keeps the level category single-valued.
CREATE TABLE customer_tags (
    customer_id text NOT NULL,
    tag_id      text NOT NULL REFERENCES tags (id),
    category    text NOT NULL,
    assigned_at timestamptz NOT NULL,
    assigned_by text NOT NULL,
    PRIMARY KEY (customer_id, tag_id)
);
CREATE UNIQUE INDEX customer_tags_one_level ON customer_tags (customer_id) WHERE category = 'level';
CREATE INDEX customer_tags_tag ON customer_tags (tag_id, customer_id);

-- Tag history of each customer (assigned / removed), with the tag's name at the time.
CREATE TABLE tag_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id text NOT NULL,
    tag_id      text NOT NULL,
    tag_name    text NOT NULL,
    category    text NOT NULL,
    action      text NOT NULL CHECK (action IN ('assigned', 'removed')),
    -- '' for a plain assign or remove, 'replaced' or 'tag_deleted'
    reason      text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL,
    actor_id    text NOT NULL,
    actor_role  text NOT NULL DEFAULT '',
    actor_team  text NOT NULL DEFAULT ''
);
CREATE INDEX tag_history_customer ON tag_history (customer_id, id DESC);

-- Saved segments (客户分群).
CREATE TABLE segments (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    name_key    text NOT NULL,
    description text NOT NULL DEFAULT '',
    expression  text NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  text NOT NULL,
    deleted_at  timestamptz,
    deleted_by  text NOT NULL DEFAULT '',
    version     bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX segments_name_live ON segments (name_key) WHERE deleted_at IS NULL;
CREATE INDEX segments_created ON segments (created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- Idempotent creates: a request id, per caller and kind (tag, segment), names what its first call
-- created.
CREATE TABLE create_requests (
    kind         text NOT NULL,
    created_by   text NOT NULL,
    request_id   text NOT NULL,
    request_hash bytea NOT NULL,
    resource_id  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, created_by, request_id)
);

-- Customer attributes segments may test besides owner and team (which customer_refs holds), kept
-- from the customer events by this service's own consumer: type and status in the customer
-- service's spelling, the province in full. version is the customer's, so older events are ignored.
CREATE TABLE customer_attrs (
    customer_id text PRIMARY KEY,
    type        text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT '',
    province    text NOT NULL DEFAULT '',
    version     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
