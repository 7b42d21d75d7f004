-- BENCHMARKS §15.3: Postgres's own cost of a leasing insert and of a claim, before and after
-- session 14's changes, measured inside the server (no client, no network) so that the two
-- compare on a noisy machine. Run against a scratch database bosun has migrated:
--
--   createdb -h 127.0.0.1 -U postgres bosun_loops
--   printf '[database]\nurl = "postgres://postgres@127.0.0.1:5432/bosun_loops"\n' > loops.toml
--   cargo run --release -- migrate --config loops.toml
--   psql -h 127.0.0.1 -U postgres -q bosun_loops -f bench/sql/item_turns_loops.sql
--
-- Each procedure commits every iteration and prints µs per iteration. run_a is the leasing
-- insert as it was (pending window in a CTE), run_b as it is (bosun_items_free); claim_old
-- and claim_new the claim without and with the lease guard. Drop the database afterwards.
SET synchronous_commit = off;
CREATE OR REPLACE PROCEDURE run_a(n int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); k text;
BEGIN
  FOR i IN 1..n LOOP
    k := 'a' || i || '-' || random();
    WITH pending AS MATERIALIZED (SELECT item_key FROM deliveries WHERE status IN ('queued','running') ORDER BY id LIMIT 256),
    batch (delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding, lease_owner) AS (VALUES (k, 'github', 'issue_comment', 'o/r', 1, k, '{}', '\x00'::bytea, 'identity', 'w')),
    leased AS (SELECT b.*, (b.lease_owner IS NOT NULL AND (SELECT count(*) FROM pending) < 256 AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.item_key = b.item_key)) AS handed, now() + make_interval(secs => 30) AS until FROM batch b)
    INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding, received_at, run_after, lease_owner, lease_until, attempts, started_at)
    SELECT delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding, now(), CASE WHEN handed THEN until ELSE now() END, CASE WHEN handed THEN lease_owner END, CASE WHEN handed THEN until END, CASE WHEN handed THEN 1 ELSE 0 END, CASE WHEN handed THEN now() END
    FROM leased WHERE TRUE ON CONFLICT (delivery_id) DO NOTHING;
    COMMIT;
    UPDATE deliveries SET status = 'done', lease_owner = NULL, lease_until = NULL WHERE delivery_id = k;
    COMMIT;
  END LOOP;
  RAISE NOTICE 'a: % us per insert', round(extract(epoch from clock_timestamp() - t0) * 1e6 / n);
END $$;
CREATE OR REPLACE PROCEDURE run_b(n int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); k text;
BEGIN
  FOR i IN 1..n LOOP
    k := 'b' || i || '-' || random();
    WITH batch (delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding, lease_owner) AS (VALUES (k, 'github', 'issue_comment', 'o/r', 1, k, '{}', '\x00'::bytea, 'identity', 'w')),
    free AS MATERIALIZED (SELECT unnest(bosun_items_free(ARRAY(SELECT item_key FROM batch WHERE lease_owner IS NOT NULL), 256)) AS item_key),
    leased AS (SELECT b.*, (b.lease_owner IS NOT NULL AND b.item_key IN (SELECT item_key FROM free)) AS handed, now() + make_interval(secs => 30) AS until FROM batch b)
    INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding, received_at, run_after, lease_owner, lease_until, attempts, started_at)
    SELECT delivery_id, forge, event, repo, number, item_key, headers, payload, payload_encoding, now(), CASE WHEN handed THEN until ELSE now() END, CASE WHEN handed THEN lease_owner END, CASE WHEN handed THEN until END, CASE WHEN handed THEN 1 ELSE 0 END, CASE WHEN handed THEN now() END
    FROM leased WHERE TRUE ON CONFLICT (delivery_id) DO NOTHING;
    COMMIT;
    UPDATE deliveries SET status = 'done', lease_owner = NULL, lease_until = NULL WHERE delivery_id = k;
    COMMIT;
  END LOOP;
  RAISE NOTICE 'b: % us per insert', round(extract(epoch from clock_timestamp() - t0) * 1e6 / n);
END $$;
CALL run_a(3000); CALL run_b(3000); CALL run_a(3000); CALL run_b(3000); CALL run_a(3000); CALL run_b(3000);

SET synchronous_commit = off;
TRUNCATE deliveries CASCADE;
INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload, received_at, run_after) SELECT 'p'||g, 'github', 'x', 'o/r', g, 'k'||(g%10), '{}', '\x00', now(), now() FROM generate_series(1,20) g;
CREATE OR REPLACE PROCEDURE claim_old(n int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); got bigint;
BEGIN
  FOR i IN 1..n LOOP
    WITH pending AS (SELECT id, item_key, status, run_after, lease_until FROM deliveries WHERE status IN ('queued', 'running') ORDER BY id LIMIT 32),
     heads AS (SELECT DISTINCT ON (item_key) id, status, run_after, lease_until FROM pending ORDER BY item_key, id),
     candidates AS (SELECT id FROM heads WHERE ((status = 'queued' AND run_after <= now()) OR (status = 'running' AND lease_until < now())) ORDER BY id),
     next AS (SELECT d.id FROM candidates c CROSS JOIN LATERAL (SELECT id FROM deliveries WHERE id = c.id FOR UPDATE SKIP LOCKED) d LIMIT 1),
     claimed AS (UPDATE deliveries d SET status = 'queued', attempts = d.attempts + 1, lease_owner = 'w', lease_until = now() + make_interval(secs => 30), run_after = now() + make_interval(secs => 30), started_at = coalesce(d.started_at, now())
        FROM next WHERE d.id = next.id AND ((d.status = 'queued' AND d.run_after <= now()) OR (d.status = 'running' AND d.lease_until < now())) RETURNING d.id)
    SELECT (SELECT count(*) FROM pending) + coalesce((SELECT id FROM claimed), 0) INTO got;
    COMMIT;
    UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, run_after = received_at WHERE lease_owner = 'w';
    COMMIT;
  END LOOP;
  RAISE NOTICE 'claim_old: % us per claim', round(extract(epoch from clock_timestamp() - t0) * 1e6 / n);
END $$;
CREATE OR REPLACE PROCEDURE claim_new(n int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp(); got bigint;
BEGIN
  FOR i IN 1..n LOOP
    WITH pending AS (SELECT id, item_key, status, run_after, lease_until FROM deliveries WHERE status IN ('queued', 'running') ORDER BY id LIMIT 32),
     heads AS (SELECT DISTINCT ON (item_key) id, status, run_after, lease_until, bool_or(lease_until > now()) OVER (PARTITION BY item_key ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS item_leased FROM pending ORDER BY item_key, id),
     candidates AS (SELECT id FROM heads WHERE ((status = 'queued' AND run_after <= now()) OR (status = 'running' AND lease_until < now())) AND item_leased IS NOT TRUE ORDER BY id),
     next AS (SELECT d.id FROM candidates c CROSS JOIN LATERAL (SELECT id FROM deliveries WHERE id = c.id FOR UPDATE SKIP LOCKED) d LIMIT 1),
     claimed AS (UPDATE deliveries d SET status = 'queued', attempts = d.attempts + 1, lease_owner = 'w', lease_until = now() + make_interval(secs => 30), run_after = now() + make_interval(secs => 30), started_at = coalesce(d.started_at, now())
        FROM next WHERE d.id = next.id AND ((d.status = 'queued' AND d.run_after <= now()) OR (d.status = 'running' AND d.lease_until < now())) RETURNING d.id)
    SELECT (SELECT count(*) FROM pending) + coalesce((SELECT id FROM claimed), 0) INTO got;
    COMMIT;
    UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, run_after = received_at WHERE lease_owner = 'w';
    COMMIT;
  END LOOP;
  RAISE NOTICE 'claim_new: % us per claim', round(extract(epoch from clock_timestamp() - t0) * 1e6 / n);
END $$;
CALL claim_old(3000); CALL claim_new(3000); CALL claim_old(3000); CALL claim_new(3000); CALL claim_old(3000); CALL claim_new(3000);
