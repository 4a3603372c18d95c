-- A create sends its whole transaction in one round trip: BEGIN, the request id's claim, the
-- locks, the duplicate check, the insert, the outbox row and COMMIT. For that the check must stop
-- the transaction itself when it finds a customer the new one may not be created beside, so that
-- PostgreSQL skips the insert and the COMMIT that follow in the same pipeline: one with the same
-- USCC, or any match when the caller did not confirm that it is another customer. The service
-- then reads the candidates again to show them (a rare path; a create that passes pays nothing).
CREATE FUNCTION duplicates_block(same_uscc boolean, matches bigint, confirmed boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce(same_uscc, false) OR (matches > 0 AND NOT confirmed) THEN
		RAISE EXCEPTION 'the new customer looks like an existing one' USING ERRCODE = 'CR001';
	END IF;
END
$$;
