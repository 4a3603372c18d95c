-- Follow-up records (客户联系记录). Text enums hold the domain's spellings (phone, need_followup …);
-- empty strings stand for "not given". The customer's owner and team are not stored here: reads
-- join customer_refs (the customer projection), so scoping follows the customer's current owner.
CREATE TABLE followups (
    id               text PRIMARY KEY,
    customer_id      text NOT NULL,
    contact_name     text NOT NULL,
    method           text NOT NULL,
    contact_time     timestamptz NOT NULL,
    kind             text NOT NULL,
    content          text NOT NULL,
    next_action      text NOT NULL DEFAULT '',
    -- China's calendar day by which the next action is due; set exactly when next_action is
    next_action_due  date,
    owner_id         text NOT NULL,
    done             boolean NOT NULL DEFAULT false,
    done_at          timestamptz,
    done_by          text NOT NULL DEFAULT '',
    competitor_notes text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    created_by       text NOT NULL,
    updated_at       timestamptz NOT NULL,
    updated_by       text NOT NULL,
    deleted_at       timestamptz,
    deleted_by       text NOT NULL DEFAULT '',
    version          bigint NOT NULL DEFAULT 1,
    CHECK ((next_action = '') = (next_action_due IS NULL))
);

-- Keyset pages per customer (newest contact first) and per owner, live records only.
CREATE INDEX followups_customer_contact ON followups (customer_id, contact_time DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX followups_owner_contact ON followups (owner_id, contact_time DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX followups_contact ON followups (contact_time DESC, id DESC) WHERE deleted_at IS NULL;
-- Due and overdue next actions, earliest first, overall and per owner.
CREATE INDEX followups_due ON followups (next_action_due, id) WHERE deleted_at IS NULL AND NOT done AND next_action_due IS NOT NULL;
CREATE INDEX followups_owner_due ON followups (owner_id, next_action_due, id) WHERE deleted_at IS NULL AND NOT done AND next_action_due IS NOT NULL;

-- Idempotent creates: a request id, per caller, names the record its first call created.
CREATE TABLE create_requests (
    created_by   text NOT NULL,
    request_id   text NOT NULL,
    request_hash bytea NOT NULL,
    followup_id  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (created_by, request_id)
);
