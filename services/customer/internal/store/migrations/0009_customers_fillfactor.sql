-- Room on every page for a row's next version. The fields other services keep on the customer
-- (最近跟进时间 with every follow-up logged, 客户等级) are indexed nowhere, so their updates can
-- be heap-only (HOT): a new row version on the same page and no new entry in any of the table's
-- fifteen indexes (four of them GIN). That needs free space on the page, which a table filled to
-- 100 % (an import, a migration from another CRM) has nowhere, so each first update moved the row
-- and wrote every index. 90 % leaves room for about one row of ~0.5 kB per 8 kB page, and the
-- page's dead versions are pruned when it is next read. Applies to pages written from now on.
ALTER TABLE customers SET (fillfactor = 90);
