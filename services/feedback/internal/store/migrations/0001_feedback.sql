-- Customer feedback and complaints (客户反馈与投诉). Text enums hold the domain's spellings
-- (complaint, online_service, in_progress …); empty strings stand for "not given". The customer's
-- owner and team are not copied here: reads join customer_refs, so an ownership change applies
-- at once and sales scoping stays a WHERE clause.
CREATE TABLE feedback (
    id                text PRIMARY KEY,
    customer_id       text NOT NULL,
    type              text NOT NULL,
    content           text NOT NULL,
    channel           text NOT NULL,
    status            text NOT NULL,
    status_reason     text NOT NULL DEFAULT '',
    handler_id        text NOT NULL DEFAULT '',
    plan              text NOT NULL DEFAULT '',
    result            text NOT NULL DEFAULT '',
    -- 0 = not rated
    satisfaction      smallint NOT NULL DEFAULT 0 CHECK (satisfaction BETWEEN 0 AND 5),
    -- complaints only: created_at + the complaint SLA in force when it was recorded
    response_deadline timestamptz,
    first_response_at timestamptz,
    resolved_at       timestamptz,
    closed_at         timestamptz,
    created_at        timestamptz NOT NULL,
    created_by        text NOT NULL,
    updated_at        timestamptz NOT NULL,
    updated_by        text NOT NULL,
    deleted_at        timestamptz,
    deleted_by        text NOT NULL DEFAULT '',
    delete_reason     text NOT NULL DEFAULT '',
    version           bigint NOT NULL DEFAULT 1
);

-- Keyset pages in each order, overall and per customer.
CREATE INDEX feedback_created ON feedback (created_at DESC, id DESC);
CREATE INDEX feedback_updated ON feedback (updated_at DESC, id DESC);
CREATE INDEX feedback_customer_created ON feedback (customer_id, created_at DESC, id DESC);
CREATE INDEX feedback_handler ON feedback (handler_id) WHERE handler_id <> '';
-- The overdue queue: live complaints nobody has responded to yet, by deadline.
CREATE INDEX feedback_awaiting_response ON feedback (response_deadline, id)
    WHERE response_deadline IS NOT NULL AND first_response_at IS NULL AND deleted_at IS NULL;

-- Idempotent creates: a request id, per caller, names the feedback its first call created.
CREATE TABLE create_requests (
    created_by   text NOT NULL,
    request_id   text NOT NULL,
    request_hash bytea NOT NULL,
    feedback_id  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (created_by, request_id)
);
