-- Keyword search: pg_trgm's indexes need three characters, but Chinese names and keywords are
-- often two (张伟, 腾讯). Every two-character piece of the name and the contact name is kept in an
-- array with a GIN index, so a two-character keyword is one index lookup instead of a scan.
CREATE FUNCTION bigrams(s text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_agg(DISTINCT lower(substr(s, i, 2))), '{}') FROM generate_series(1, char_length(s) - 1) AS i $$;

ALTER TABLE customers
    ADD COLUMN search_bigrams text[] GENERATED ALWAYS AS (bigrams(name) || bigrams(contact_name)) STORED;

CREATE INDEX customers_bigrams ON customers USING gin (search_bigrams);
