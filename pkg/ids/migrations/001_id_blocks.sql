-- Block allocator for daily serial ids (see pkg/ids). One row per prefix and calendar day
-- (Asia/Shanghai); next_value is the first serial no process has reserved yet. Processes reserve
-- blocks of serials with one upsert each, so this row is written once per block, not once per id.
CREATE TABLE IF NOT EXISTS id_blocks (
    prefix     text   NOT NULL,
    day        date   NOT NULL,
    next_value bigint NOT NULL CHECK (next_value > 1),
    PRIMARY KEY (prefix, day)
);
