-- An insert that leases deliveries to waiting workers asks this, in its own statement, which
-- of their items have nothing pending. It first waits for each item's turn: an advisory lock
-- per item (bosun's lock space, 1651471214 = 'bosn'), taken in one order and held until the
-- insert commits. Its query then runs on a fresh snapshot (a volatile function's), so it sees
-- every delivery of those items that another process committed while this one waited. Two
-- processes journaling deliveries of one PR at once therefore never both lease theirs.
-- With `window_size` or more deliveries pending (a backlog, claimed in order), none is free.
CREATE OR REPLACE FUNCTION bosun_items_free(items TEXT[], window_size INTEGER) RETURNS TEXT[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    pending_count BIGINT;
    busy TEXT[];
BEGIN
    PERFORM pg_advisory_xact_lock(1651471214, turn)
    FROM (SELECT DISTINCT hashtext(item) AS turn FROM unnest(items) AS item ORDER BY turn) AS turns;
    SELECT count(*), coalesce(array_agg(item_key), '{}') INTO pending_count, busy
    FROM (SELECT item_key FROM deliveries WHERE status IN ('queued', 'running')
          ORDER BY id LIMIT window_size) AS pending;
    IF pending_count >= window_size THEN
        RETURN '{}';
    END IF;
    RETURN ARRAY(SELECT item FROM unnest(items) AS item WHERE item <> ALL (busy));
END
$$;
