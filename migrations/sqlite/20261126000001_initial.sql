-- The journal and queue: every accepted webhook, its raw bytes kept for replay.
-- Times are Unix milliseconds.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT NOT NULL UNIQUE,
    forge        TEXT NOT NULL,
    event        TEXT NOT NULL,
    repo         TEXT,
    number       INTEGER,
    item_key     TEXT NOT NULL,
    headers      TEXT NOT NULL DEFAULT '{}',
    payload      BLOB NOT NULL,
    status       TEXT NOT NULL DEFAULT 'queued',
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    decided      INTEGER NOT NULL DEFAULT 0,
    received_at  INTEGER NOT NULL,
    run_after    INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    started_at   INTEGER,
    finished_at  INTEGER
);
CREATE INDEX deliveries_pending ON deliveries (id) WHERE status IN ('queued', 'running');
CREATE INDEX deliveries_item_pending ON deliveries (item_key, id) WHERE status IN ('queued', 'running');
CREATE INDEX deliveries_received ON deliveries (received_at DESC, id DESC);
CREATE INDEX deliveries_repo ON deliveries (repo, number, id);

-- The audit log: what each plugin decided for a delivery, and what became of it.
CREATE TABLE actions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery     INTEGER NOT NULL REFERENCES deliveries (id),
    plugin       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    target       TEXT NOT NULL,
    details      TEXT NOT NULL,
    outcome      TEXT NOT NULL DEFAULT 'pending',
    error        TEXT,
    forge_calls  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    applied_at   INTEGER,
    UNIQUE (delivery, plugin, seq)
);

-- What bosun knows of each pull/merge request now.
CREATE TABLE pull_requests (
    forge       TEXT NOT NULL,
    repo        TEXT NOT NULL,
    number      INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open',
    head_sha    TEXT,
    labels      TEXT NOT NULL DEFAULT '[]',
    lgtm        TEXT NOT NULL DEFAULT '[]',
    approvals   TEXT NOT NULL DEFAULT '[]',
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (forge, repo, number)
);
