-- deliveries_repo (repo, number, id) is the prefix of deliveries_item_history
-- (repo, number, forge, received_at, id): every query that filters on repo and number is served
-- by the longer index at the same cost (EXPLAIN on both databases, BENCHMARKS §9.4). Dropping
-- it saves an index entry on every insert and every status change, and on SQLite one 4 KB page
-- written per commit.
DROP INDEX IF EXISTS deliveries_repo;
