-- The latest state of every CI context on a commit (one row per repo, SHA and context), from
-- CI events; the PR page shows its head's, plugins read them, merge readiness decides on them.
-- A push moves the PR to a new SHA, whose contexts start empty. Times are epoch milliseconds.
CREATE TABLE ci_contexts (
    forge       TEXT NOT NULL,
    repo        TEXT NOT NULL,
    sha         TEXT NOT NULL,
    context     TEXT NOT NULL,
    system      TEXT NOT NULL,
    state       TEXT NOT NULL,
    url         TEXT,
    run_id      TEXT,
    number      INTEGER,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (forge, repo, sha, context)
);
-- A CI event that names no PR is mapped to the open PR whose head it is.
CREATE INDEX pull_requests_head ON pull_requests (forge, repo, head_sha);
