-- A keyword of three characters or more is looked up in the bigram index of 0004 too, instead of
-- the name's and the contact name's trigram indexes. The search asks for its newest matches, and
-- PostgreSQL chooses between reading them from an index and sorting them, or walking the primary
-- key backwards until a page is found. With ILIKE it guessed how many rows match from a sample of
-- a hundred names: a keyword that happened to be in the sample was taken to match 1 % of the
-- table, and a keyword matching twenty customers walked all million (1.3 s; a few of every 2,000
-- keywords, a different few after each ANALYZE). For "contains all these bigrams" it multiplies
-- each bigram's own frequency, which it keeps for the thousand most common: a rare name's
-- keyword is estimated rare, and 有限公司 common (docs/benchmarks.md, "Searches that walked the
-- whole table").
--
-- keyword_bigrams(s) is what a name containing s must contain: every other bigram of s
-- (lower-cased, as bigrams() does) and its last, which cover all its characters with half the
-- index keys to read. ILIKE still decides what matches.
CREATE FUNCTION keyword_bigrams(s text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    l   text := lower(s);
    n   int := char_length(l);
    out text[] := '{}';
BEGIN
    FOR i IN 1 .. n - 1 BY 2 LOOP
        out := out || substr(l, i, 2);
    END LOOP;
    IF n % 2 = 1 AND n > 2 THEN
        out := out || substr(l, n - 1, 2);
    END IF;
    RETURN out;
END
$$;

-- Nothing else reads these two; every insert and name change wrote them.
DROP INDEX customers_name_trgm;
DROP INDEX customers_contact_trgm;
