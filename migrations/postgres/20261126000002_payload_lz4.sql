-- TOAST compresses each ~25 KB webhook payload; pglz was 44 % of Postgres's CPU in the ingest
-- benchmark, lz4 halves the cost of a delivery (BENCHMARKS.md §5). Servers built without lz4
-- keep pglz. Existing rows keep their compression; readers are unaffected.
DO $$
BEGIN
    ALTER TABLE deliveries ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
