-- Customer needs and sales opportunities (客户需求 / 商机). Text enums hold the domain's spellings
-- (procurement, negotiation …); empty strings stand for "not given" so that equality filters need
-- no COALESCE. Money is integer fen. Who may see a need is decided by its customer's owner and
-- team, read from customer_refs (the customer projection) in the same query.
CREATE TABLE needs (
    id                     text PRIMARY KEY,
    customer_id            text NOT NULL,
    title                  text NOT NULL,
    type                   text NOT NULL,
    description            text NOT NULL DEFAULT '',
    budget_min_fen         bigint CHECK (budget_min_fen >= 0),
    budget_max_fen         bigint CHECK (budget_max_fen >= 0),
    expected_delivery_date date,
    expected_close_date    date,
    expected_amount_fen    bigint CHECK (expected_amount_fen >= 0),
    stage                  text NOT NULL,
    lost_reason            text NOT NULL DEFAULT '',
    department             text NOT NULL DEFAULT '',
    owner_id               text NOT NULL,
    competitors            text[] NOT NULL DEFAULT '{}',
    stage_changed_at       timestamptz NOT NULL,
    stage_changed_by       text NOT NULL,
    created_at             timestamptz NOT NULL,
    created_by             text NOT NULL,
    updated_at             timestamptz NOT NULL,
    updated_by             text NOT NULL,
    deleted_at             timestamptz,
    deleted_by             text NOT NULL DEFAULT '',
    version                bigint NOT NULL DEFAULT 1,
    CONSTRAINT needs_budget_range CHECK (budget_min_fen <= budget_max_fen),
    CONSTRAINT needs_lost_reason CHECK (stage <> 'lost' OR lost_reason <> '')
);

-- Keyset pages in each order, overall and per customer.
CREATE INDEX needs_created ON needs (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX needs_updated ON needs (updated_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX needs_close_date ON needs ((coalesce(expected_close_date, DATE '9999-12-31')), id) WHERE deleted_at IS NULL;
CREATE INDEX needs_customer_created ON needs (customer_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
-- Pipeline sums and owner filters.
CREATE INDEX needs_owner_stage ON needs (owner_id, stage) WHERE deleted_at IS NULL;
CREATE INDEX needs_stage ON needs (stage) WHERE deleted_at IS NULL;

-- Stage history: one row per stage change, the first written when the need is created
-- (from_stage empty).
CREATE TABLE need_stage_changes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    need_id    text NOT NULL REFERENCES needs (id),
    from_stage text NOT NULL,
    to_stage   text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    reopened   boolean NOT NULL DEFAULT false,
    changed_at timestamptz NOT NULL,
    changed_by text NOT NULL
);
CREATE INDEX need_stage_changes_need ON need_stage_changes (need_id, id);

-- Idempotent creates: a request id, per caller, names the need its first call created.
CREATE TABLE create_requests (
    created_by   text NOT NULL,
    request_id   text NOT NULL,
    request_hash bytea NOT NULL,
    need_id      text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (created_by, request_id)
);
