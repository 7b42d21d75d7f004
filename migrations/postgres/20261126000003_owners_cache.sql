-- Tree listings and parsed OWNERS files, keyed by commit or blob SHA. Values under a key never
-- change, so replicas may race to write the same row.
CREATE TABLE owners_cache (
    key         TEXT PRIMARY KEY,
    value       BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
