-- The local projection of customers that a service needs to check access and references: who
-- owns each customer, its team, whether it is deleted or merged. Fed by the customer events,
-- filled on demand from the customer service's API.
CREATE TABLE customer_refs (
    customer_id text PRIMARY KEY,
    owner_id    text NOT NULL,
    team_id     text NOT NULL DEFAULT '',
    deleted     boolean NOT NULL DEFAULT false,
    merged_into text NOT NULL DEFAULT '',
    -- the customer's version in the event or answer this row came from; older news is ignored
    version     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_refs_owner ON customer_refs (owner_id);
CREATE INDEX customer_refs_team ON customer_refs (team_id);
