-- Customer master records (客户基本信息). Text enums hold the domain's spellings
-- (enterprise, potential, 1-50 …); empty strings stand for "not given" so that
-- equality filters need no COALESCE.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE customers (
    id                 text PRIMARY KEY,
    name               text NOT NULL,
    -- name folded for duplicate detection (width, spaces, legal-form suffixes ignored)
    name_key           text NOT NULL,
    type               text NOT NULL,
    industry           text NOT NULL DEFAULT '',
    uscc               text NOT NULL DEFAULT '',
    contact_name       text NOT NULL,
    contact_title      text NOT NULL DEFAULT '',
    mobile             text NOT NULL,
    landline           text NOT NULL DEFAULT '',
    email              text NOT NULL DEFAULT '',
    province           text NOT NULL,
    city               text NOT NULL,
    district           text NOT NULL DEFAULT '',
    street             text NOT NULL DEFAULT '',
    scale              text NOT NULL,
    status             text NOT NULL,
    source             text NOT NULL DEFAULT '',
    first_contact_date date,
    owner_id           text NOT NULL,
    team_id            text NOT NULL DEFAULT '',
    amount_fen         bigint CHECK (amount_fen >= 0),
    remarks            text NOT NULL DEFAULT '',
    consent            jsonb,
    status_changed_at  timestamptz NOT NULL,
    status_changed_by  text NOT NULL,
    created_at         timestamptz NOT NULL,
    created_by         text NOT NULL,
    updated_at         timestamptz NOT NULL,
    updated_by         text NOT NULL,
    deleted_at         timestamptz,
    deleted_by         text NOT NULL DEFAULT '',
    delete_reason      text NOT NULL DEFAULT '',
    version            bigint NOT NULL DEFAULT 1
);

-- A USCC identifies one legal entity: unique among live customers.
CREATE UNIQUE INDEX customers_uscc_live ON customers (uscc) WHERE uscc <> '' AND deleted_at IS NULL;
-- Duplicate checks.
CREATE INDEX customers_name_key_live ON customers (name_key) WHERE deleted_at IS NULL;
CREATE INDEX customers_mobile_live ON customers (mobile) WHERE deleted_at IS NULL;
CREATE INDEX customers_email_live ON customers (email) WHERE email <> '' AND deleted_at IS NULL;
-- Keyset pages in each order, for everyone and per owner / team (sales and managers).
CREATE INDEX customers_created ON customers (created_at DESC, id DESC);
CREATE INDEX customers_updated ON customers (updated_at DESC, id DESC);
CREATE INDEX customers_name_order ON customers (name, id);
CREATE INDEX customers_owner_created ON customers (owner_id, created_at DESC, id DESC);
CREATE INDEX customers_team_created ON customers (team_id, created_at DESC, id DESC);
-- Keyword search: substring matches (ILIKE '%…%') over id, name, contact and mobile.
CREATE INDEX customers_name_trgm ON customers USING gin (name public.gin_trgm_ops);
CREATE INDEX customers_contact_trgm ON customers USING gin (contact_name public.gin_trgm_ops);
CREATE INDEX customers_mobile_trgm ON customers USING gin (mobile public.gin_trgm_ops);
CREATE INDEX customers_id_trgm ON customers USING gin (id public.gin_trgm_ops);

-- Idempotent creates: a request id, per caller, names the customer its first call created.
CREATE TABLE create_requests (
    created_by   text NOT NULL,
    request_id   text NOT NULL,
    request_hash bytea NOT NULL,
    customer_id  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (created_by, request_id)
);
