-- deliveries_item_pending (item_key, id) served SQLite's claim, which looks for an earlier
-- pending delivery of the same item row by row. The Postgres claim finds each item's head in
-- one ordered pass over deliveries_pending (DISTINCT ON, src/store/sql.rs) and no other query
-- filters on item_key, so the index was written on every receive and never read.
DROP INDEX IF EXISTS deliveries_item_pending;
