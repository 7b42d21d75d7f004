-- Facts plugins report about a pull request (who LGTM'd, who approves, later CI contexts), the
-- newest per key. They replace the lgtm and approvals columns, whose values are carried over;
-- the columns stay for older binaries reading this database and are no longer written.
CREATE TABLE pr_facts (
    forge     TEXT NOT NULL,
    repo      TEXT NOT NULL,
    number    INTEGER NOT NULL,
    fact_key  TEXT NOT NULL,
    plugin    TEXT NOT NULL,
    fact      TEXT NOT NULL,
    PRIMARY KEY (forge, repo, number, fact_key)
);

INSERT INTO pr_facts (forge, repo, number, fact_key, plugin, fact)
SELECT forge, repo, number, 'lgtm', 'lgtm', '{"fact":"lgtm","by":' || lgtm || '}'
FROM pull_requests WHERE lgtm <> '[]';

-- The approvals column holds "login (how)" texts; the fact decodes that older form too.
INSERT INTO pr_facts (forge, repo, number, fact_key, plugin, fact)
SELECT forge, repo, number, 'approvals', 'approve', '{"fact":"approvals","by":' || approvals || '}'
FROM pull_requests WHERE approvals <> '[]';
