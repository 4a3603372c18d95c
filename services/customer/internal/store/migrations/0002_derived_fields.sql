-- Fields kept from other services' events: 客户等级 from the tagging service's level tag,
-- 最近跟进时间 from follow-up records, and the survivor of a merge. They change no version:
-- a follow-up being logged must not make a user's open edit stale.
ALTER TABLE customers
    ADD COLUMN level            text NOT NULL DEFAULT '',
    ADD COLUMN level_version    bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_followup_at timestamptz,
    ADD COLUMN merged_into      text NOT NULL DEFAULT '';
