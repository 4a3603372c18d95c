-- The partial indexes on name_key and mobile name their key in their predicate, as those on uscc
-- and email already did. With `deleted_at IS NULL` alone, every query on live customers implied
-- their predicate, so the planner could read one of them from end to end in place of another
-- lookup: on a table of a page or two every path costs the same, and a prepared statement's plan
-- chosen there is kept as the table grows (a get by id's, made on five customers, walked the
-- whole name index). Queries that look these keys up state `name_key <> ''` or `mobile <> ''`
-- (neither is ever empty in a valid customer), or compare them with a non-empty constant.
-- Each build took about 2 s per million customers on the benchmark machine; creates wait for it.
CREATE INDEX customers_name_key_live_keyed ON customers (name_key) WHERE name_key <> '' AND deleted_at IS NULL;
DROP INDEX customers_name_key_live;
ALTER INDEX customers_name_key_live_keyed RENAME TO customers_name_key_live;

CREATE INDEX customers_mobile_live_keyed ON customers (mobile) WHERE mobile <> '' AND deleted_at IS NULL;
DROP INDEX customers_mobile_live;
ALTER INDEX customers_mobile_live_keyed RENAME TO customers_mobile_live;
