-- Chat messages waiting for their channel: a Notify action is applied by putting its message
-- here (once: action_id is unique); a sender drains each channel within its rate limit,
-- coalescing a backlog into one digest. Times are epoch milliseconds on both backends.
CREATE TABLE chat_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id   INTEGER NOT NULL UNIQUE,
    channel     TEXT NOT NULL,
    message     TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending',
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_ms  INTEGER NOT NULL,
    due_ms      INTEGER NOT NULL,
    sent_ms     INTEGER,
    batch       TEXT
);
CREATE INDEX chat_outbox_due ON chat_outbox (channel, state, due_ms);
CREATE INDEX chat_outbox_sent ON chat_outbox (channel, sent_ms);
