-- bosun compresses webhook payloads itself before journaling them (src/store/payload.rs);
-- payload_encoding says how a row's payload is encoded. Rows from before have 'identity' (the
-- default; adding a column with a constant default does not rewrite the table) and read as
-- they are.
ALTER TABLE deliveries ADD COLUMN payload_encoding TEXT NOT NULL DEFAULT 'identity';
