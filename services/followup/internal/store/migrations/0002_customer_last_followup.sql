-- Each customer's latest contact time over its follow-up records that are not deleted, and how many
-- times it has changed. Every write that can move it (a create, a contact time edited, a delete)
-- locks the customer's row here first, so concurrent writes for one customer take turns and the
-- value is exact after each commit; a change publishes customer_last_followup.changed with the new
-- version, from which the customer service keeps 最近跟进时间 (it ignores versions it has passed).
CREATE TABLE customer_last_followup (
    customer_id  text PRIMARY KEY,
    -- NULL when the customer has no live follow-up record.
    contact_time timestamptz,
    version      bigint NOT NULL
);

-- The records written before this table existed. Version 0 publishes nothing: the customer service
-- keeps what it derived from them (the latest contact time ever recorded) until the customer's next
-- follow-up change, which publishes the exact value as version 1.
INSERT INTO customer_last_followup (customer_id, contact_time, version)
SELECT customer_id, max(contact_time) FILTER (WHERE deleted_at IS NULL), 0
  FROM followups
 GROUP BY customer_id;
