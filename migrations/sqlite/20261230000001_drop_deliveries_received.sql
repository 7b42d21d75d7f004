-- deliveries_received (received_at DESC, id DESC) served the dashboard's unfiltered list,
-- newest first. On SQLite one writer inserts every delivery, stamping it as it does, so the
-- rowid's order is the order received: that list now reads the table backwards by id, and no
-- index by time is written. Every commit wrote one 4 KB page of it to the WAL, and the
-- checkpoint wrote it again (BENCHMARKS §16). Filtered lists keep their indexes.
DROP INDEX IF EXISTS deliveries_received;
