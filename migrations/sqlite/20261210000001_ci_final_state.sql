-- How each CI context last finished on a commit (success, failure, error, cancelled; never
-- pending), kept when a re-run sets it pending again, so a pass after a failure on the same
-- head is told as a recovery. Rows from before start with their state if it was final.
ALTER TABLE ci_contexts ADD COLUMN final_state TEXT;
UPDATE ci_contexts SET final_state = state WHERE state <> 'pending';
-- The outcome on a PR's other heads is looked up by PR and context.
CREATE INDEX ci_contexts_pr ON ci_contexts (forge, repo, number, context);
