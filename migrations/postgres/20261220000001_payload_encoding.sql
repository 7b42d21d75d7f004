-- bosun compresses webhook payloads itself before journaling them (src/store/payload.rs);
-- payload_encoding says how a row's payload is encoded. Rows from before have 'identity' (the
-- default: a constant default adds the column without rewriting the table) and read as they are.
ALTER TABLE deliveries ADD COLUMN payload_encoding TEXT NOT NULL DEFAULT 'identity';

-- The bytes are compressed already: EXTERNAL keeps large values out of line without TOAST
-- compressing them a second time. Only new rows are affected; old ones keep their pglz or lz4
-- compression, which Postgres undoes when it reads them.
ALTER TABLE deliveries ALTER COLUMN payload SET STORAGE EXTERNAL;
