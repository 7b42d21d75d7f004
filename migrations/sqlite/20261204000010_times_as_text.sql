-- Times become RFC 3339 text in UTC with exactly three decimals ('2026-12-04T12:00:00.123Z'):
-- fixed width, so text order is time order, and sqlx decodes it as a DateTime<Utc> as it does
-- Postgres's TIMESTAMPTZ. Rows written before this stored Unix milliseconds; they are converted
-- here, exactly (integer arithmetic, no floating point).
--
-- The columns keep their declared INTEGER type: SQLite cannot change a column's type in place,
-- and a text that is not a number is stored as text in an INTEGER column. owners_cache.created_at
-- (Unix seconds, never read) is left as it is.
UPDATE deliveries SET
    received_at = CASE WHEN typeof(received_at) = 'integer'
        THEN strftime('%Y-%m-%dT%H:%M:%S', received_at / 1000, 'unixepoch') || printf('.%03dZ', received_at % 1000)
        ELSE received_at END,
    run_after = CASE WHEN typeof(run_after) = 'integer'
        THEN strftime('%Y-%m-%dT%H:%M:%S', run_after / 1000, 'unixepoch') || printf('.%03dZ', run_after % 1000)
        ELSE run_after END,
    lease_until = CASE WHEN typeof(lease_until) = 'integer'
        THEN strftime('%Y-%m-%dT%H:%M:%S', lease_until / 1000, 'unixepoch') || printf('.%03dZ', lease_until % 1000)
        ELSE lease_until END,
    started_at = CASE WHEN typeof(started_at) = 'integer'
        THEN strftime('%Y-%m-%dT%H:%M:%S', started_at / 1000, 'unixepoch') || printf('.%03dZ', started_at % 1000)
        ELSE started_at END,
    finished_at = CASE WHEN typeof(finished_at) = 'integer'
        THEN strftime('%Y-%m-%dT%H:%M:%S', finished_at / 1000, 'unixepoch') || printf('.%03dZ', finished_at % 1000)
        ELSE finished_at END;

UPDATE actions SET
    created_at = CASE WHEN typeof(created_at) = 'integer'
        THEN strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000, 'unixepoch') || printf('.%03dZ', created_at % 1000)
        ELSE created_at END,
    applied_at = CASE WHEN typeof(applied_at) = 'integer'
        THEN strftime('%Y-%m-%dT%H:%M:%S', applied_at / 1000, 'unixepoch') || printf('.%03dZ', applied_at % 1000)
        ELSE applied_at END;

UPDATE pull_requests SET
    updated_at = CASE WHEN typeof(updated_at) = 'integer'
        THEN strftime('%Y-%m-%dT%H:%M:%S', updated_at / 1000, 'unixepoch') || printf('.%03dZ', updated_at % 1000)
        ELSE updated_at END;
