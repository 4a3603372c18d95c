-- Inserting a customer cost about 110 µs of PostgreSQL CPU, half of it for the two-character
-- search of 0004 (measured by inserting 100,000 rows into 100,000 with each index dropped in
-- turn; docs/benchmarks.md, "Import and export"). Two causes, both fixed here without changing
-- what a search finds:
--
-- 1. bigrams() ran as a SQL function with a FROM clause, so every call (two per row) started a
--    small query. A PL/pgSQL loop gives the same pieces at a third of the cost. It may repeat a
--    piece (张伟张伟); containment (@>) and the GIN index, which stores each key once, do not care,
--    and the rows stored before this change keep their arrays, which hold the same pieces.
CREATE OR REPLACE FUNCTION bigrams(s text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    l   text := lower(s);
    out text[] := '{}';
BEGIN
    FOR i IN 1 .. char_length(l) - 1 LOOP
        out := out || substr(l, i, 2);
    END LOOP;
    RETURN out;
END
$$;

-- 2. The index compared its keys with the database's collation (strcoll for every comparison
--    while the pending list is merged). Keys are only ever tested for equality, so bytewise "C"
--    order gives the same matches; the search states COLLATE "C" so that it uses this index.
--    Building it takes a share lock on customers (reads go on, writes wait) for as long as the
--    build: 11 s at a million customers here.
DROP INDEX customers_bigrams;
CREATE INDEX customers_bigrams ON customers USING gin (search_bigrams COLLATE "C");
