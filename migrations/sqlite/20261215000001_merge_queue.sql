-- The merge queue: merges into one base branch go one at a time.
-- `merge_leases` names the PR being merged into each queue ("forge:repo@branch"); a lease that
-- outlives `expires_at` (Unix milliseconds; its holder died) may be taken over.
CREATE TABLE merge_leases (
    queue       TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    number      BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- PRs found ready while their queue's lease was held, in the order they arrived; the holder
-- hands the queue to the first of them when its merge ends.
CREATE TABLE merge_waiting (
    queue       TEXT NOT NULL,
    item_key    TEXT NOT NULL,
    forge       TEXT NOT NULL,
    repo        TEXT NOT NULL,
    number      BIGINT NOT NULL,
    head_sha    TEXT NOT NULL,
    since       BIGINT NOT NULL,
    PRIMARY KEY (queue, item_key)
);
