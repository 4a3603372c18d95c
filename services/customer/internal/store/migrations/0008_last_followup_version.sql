-- 最近跟进时间 now follows the follow-up service's customer_last_followup.changed events, which
-- carry the customer's latest contact time over its live follow-up records (so it moves back when
-- the latest one is deleted or back-dated) with a version per customer; a late or repeated event
-- must not roll it back. Until a customer's first such event, the time derived from the earlier
-- followup.created/updated events stays.
ALTER TABLE customers ADD COLUMN last_followup_version bigint NOT NULL DEFAULT 0;
