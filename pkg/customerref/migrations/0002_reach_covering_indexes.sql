-- A team manager's or a sales rep's customers, with what the services' reach conditions and
-- joins read of them (the id, deleted, merged_into), from the index alone. With an index on the
-- team or the owner only, a team's report or list first fetched each of its customers' rows from
-- the table, one page each as they are spread over it: for a team of 40,000 customers of a
-- million, 10,000 pages, most of a needs pipeline report's 270 ms (120 ms with this index, one
-- process, docs/benchmarks.md). The team or owner leads, so these also serve every look-up the
-- indexes they replace served.
CREATE INDEX customer_refs_team_customers ON customer_refs (team_id, customer_id) INCLUDE (deleted, merged_into);
CREATE INDEX customer_refs_owner_customers ON customer_refs (owner_id, customer_id) INCLUDE (deleted, merged_into);
DROP INDEX customer_refs_team;
DROP INDEX customer_refs_owner;
