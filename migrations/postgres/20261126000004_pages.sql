-- The dashboard's filters, each in the list's (received_at, id) order, so a filtered page is one
-- index range scan from the keyset cursor (the pages never use OFFSET). The unfiltered list
-- uses deliveries_received from the initial migration.
CREATE INDEX IF NOT EXISTS deliveries_status_received ON deliveries (status, received_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS deliveries_repo_received ON deliveries (repo, received_at DESC, id DESC);
-- A pull request's history on its page, oldest first.
CREATE INDEX IF NOT EXISTS deliveries_item_history ON deliveries (repo, number, forge, received_at, id);
