-- BENCHMARKS §18: Postgres's own cost of a claim with a backlog, before and after the claim
-- looks the chosen head's item up among its recent deliveries (session 15), measured inside the
-- server (no client, no network) so that the two compare on a noisy machine. Run against a
-- scratch database bosun has migrated:
--
--   createdb -h 127.0.0.1 -U postgres bosun_probe
--   printf '[database]\nurl = "postgres://postgres@127.0.0.1:5432/bosun_probe"\n' > probe.toml
--   cargo run --release -- migrate --config probe.toml
--   psql -h 127.0.0.1 -U postgres -q bosun_probe -f bench/sql/claim_item_probe.sql
--
-- The table holds 20,000 finished deliveries received a day ago and a backlog of 1,000 pending
-- ones, both spread over 100 PRs, and 10 of those PRs have a delivery running. Each procedure
-- claims (the first window, 32, full, so the new claim's look-up runs) and gives the delivery
-- back, committing every iteration, and prints µs per iteration: claim_window_only is the
-- claim before the change, claim_with_probe after. The claims' text is bosun's, with the
-- worker, lease and window written in, spelled out in each procedure: PL/pgSQL plans a static
-- statement once, where an EXECUTE of one shared text would plan it on every iteration. Drop
-- the database afterwards.
SET synchronous_commit = off;
TRUNCATE deliveries CASCADE;
INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload, status, received_at, run_after, finished_at)
SELECT 'h' || g, 'github', 'issue_comment', 'o/r', g % 100, 'github:o/r#' || (g % 100), '{}', '\x00', 'done',
       now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
FROM generate_series(1, 20000) g;
INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload, received_at, run_after)
SELECT 'p' || g, 'github', 'issue_comment', 'o/r', g % 100, 'github:o/r#' || (g % 100), '{}', '\x00', now(), now()
FROM generate_series(1, 1000) g;
UPDATE deliveries SET lease_owner = 'running', lease_until = now() + interval '1 hour', run_after = now() + interval '1 hour'
WHERE id IN (SELECT min(id) FROM deliveries WHERE status = 'queued' AND number < 10 GROUP BY number);
VACUUM ANALYZE deliveries;
CREATE OR REPLACE PROCEDURE claim_window_only(n int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); got bigint;
BEGIN
  FOR i IN 1..n LOOP
        WITH pending AS (
                SELECT id, item_key, status, run_after, lease_until
                FROM deliveries
                WHERE status IN ('queued', 'running')
                ORDER BY id
                LIMIT 32::bigint),
             heads AS (
                SELECT DISTINCT ON (item_key) id, status, run_after, lease_until,
                       bool_or(lease_until > now()) OVER (PARTITION BY item_key ORDER BY id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS item_leased
                FROM pending
                ORDER BY item_key, id),
             candidates AS (
                SELECT id FROM heads
                WHERE ((status = 'queued' AND run_after <= now())
                   OR (status = 'running' AND lease_until < now()))
                  AND item_leased IS NOT TRUE
                ORDER BY id),
             next AS (
                SELECT d.id FROM candidates c
                CROSS JOIN LATERAL (
                    SELECT d.id FROM deliveries d
                    WHERE d.id = c.id
                    FOR UPDATE SKIP LOCKED) d
                LIMIT 1),
             claimed AS (
                UPDATE deliveries d
                SET status = 'queued', attempts = d.attempts + 1, lease_owner = 'w',
                    lease_until = now() + make_interval(secs => 30),
                    run_after = now() + make_interval(secs => 30), started_at = coalesce(d.started_at, now())
                FROM next
                WHERE d.id = next.id
                  AND ((d.status = 'queued' AND d.run_after <= now()) OR (d.status = 'running' AND d.lease_until < now()))
                RETURNING d.id, d.delivery_id, d.forge, d.event, d.repo, d.number, d.item_key, d.payload,
                          d.payload_encoding, d.attempts, d.decided, d.received_at)
             SELECT id FROM claimed
    INTO got;
    UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, run_after = received_at, attempts = 0 WHERE id = got;
    COMMIT;
  END LOOP;
  RAISE NOTICE 'window only: % us per claim and release (last claimed %)', round(extract(epoch from clock_timestamp() - t0) * 1e6 / n), got;
END $$;
CREATE OR REPLACE PROCEDURE claim_with_probe(n int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); got bigint;
BEGIN
  FOR i IN 1..n LOOP
        WITH pending AS (
                SELECT id, item_key, status, run_after, lease_until
                FROM deliveries
                WHERE status IN ('queued', 'running')
                ORDER BY id
                LIMIT 32::bigint),
             heads AS (
                SELECT DISTINCT ON (item_key) id, status, run_after, lease_until,
                       bool_or(lease_until > now()) OVER (PARTITION BY item_key ORDER BY id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS item_leased
                FROM pending
                ORDER BY item_key, id),
             candidates AS (
                SELECT id FROM heads
                WHERE ((status = 'queued' AND run_after <= now())
                   OR (status = 'running' AND lease_until < now()))
                  AND item_leased IS NOT TRUE
                ORDER BY id),
             next AS (
                SELECT d.id FROM candidates c
                CROSS JOIN LATERAL (
                    SELECT d.id FROM deliveries d
                    WHERE d.id = c.id
                      AND CASE WHEN 32::bigint IS NULL OR (SELECT count(*) FROM pending) < 32::bigint THEN TRUE
                               ELSE NOT (CASE WHEN d.repo IS NULL THEN EXISTS (SELECT 1 FROM deliveries l
                             WHERE l.repo IS NULL AND l.forge = d.forge
                               AND l.received_at >= d.received_at - interval '10 minutes'
                               AND l.item_key = d.item_key AND l.id <> d.id
                               AND l.lease_until > now())
                       WHEN d.number IS NULL THEN EXISTS (SELECT 1 FROM deliveries l
                             WHERE l.repo = d.repo AND l.number IS NULL AND l.forge = d.forge
                               AND l.received_at >= d.received_at - interval '10 minutes'
                               AND l.item_key = d.item_key AND l.id <> d.id
                               AND l.lease_until > now())
                       ELSE EXISTS (SELECT 1 FROM deliveries l
                             WHERE l.repo = d.repo AND l.number = d.number AND l.forge = d.forge
                               AND l.received_at >= d.received_at - interval '10 minutes'
                               AND l.item_key = d.item_key AND l.id <> d.id
                               AND l.lease_until > now()) END) END
                    FOR UPDATE SKIP LOCKED) d
                LIMIT 1),
             claimed AS (
                UPDATE deliveries d
                SET status = 'queued', attempts = d.attempts + 1, lease_owner = 'w',
                    lease_until = now() + make_interval(secs => 30),
                    run_after = now() + make_interval(secs => 30), started_at = coalesce(d.started_at, now())
                FROM next
                WHERE d.id = next.id
                  AND ((d.status = 'queued' AND d.run_after <= now()) OR (d.status = 'running' AND d.lease_until < now()))
                RETURNING d.id, d.delivery_id, d.forge, d.event, d.repo, d.number, d.item_key, d.payload,
                          d.payload_encoding, d.attempts, d.decided, d.received_at)
             SELECT id FROM claimed
    INTO got;
    UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, run_after = received_at, attempts = 0 WHERE id = got;
    COMMIT;
  END LOOP;
  RAISE NOTICE 'with probe: % us per claim and release (last claimed %)', round(extract(epoch from clock_timestamp() - t0) * 1e6 / n), got;
END $$;
CALL claim_window_only(2000); CALL claim_with_probe(2000);
CALL claim_window_only(2000); CALL claim_with_probe(2000);
CALL claim_window_only(2000); CALL claim_with_probe(2000);
