//! `needs-rebase`: a PR that conflicts with its base gets `needs-rebase` and Prow's comment
//! `PR needs rebase.`; once it merges cleanly again the label goes and the comment is deleted
//! (Prow §3.15). The comment is one notice (a comment Prow wrote on the same account is taken
//! over, never doubled). Evaluated when the PR is opened, reopened, pushed to, or its base changes
//! (GitHub `mergeable`, GitLab `has_conflicts`); while the forge is still computing the answer
//! nothing changes.
//!
//! A push to a branch looks again at every open PR into it (`Action::RecheckBranch`: one list
//! call per 100 open PRs; on GitLab the list says which conflict, so only PRs whose label is
//! wrong are queued; on GitHub, whose list does not say, each PR into the branch is queued and
//! read once, up to `[merge] recheck_limit`). A PR queued so whose forge is still computing the
//! answer is retried with the queue's backoff.
//!
//! Differences from Prow: bosun does not sleep 5 s before asking on PR events (a later event
//! or the next push asks again), and instead of a daily scan of every open PR it looks again at
//! the PRs into a branch whenever that branch moves, and at every resync.

use crate::reply::format_simple;
use crate::{
    Action, CommandHelp, Context, Event, ForgeError, ForgeKind, ItemState, Plugin, PluginError,
    PluginHelp, PrAction,
};
use async_trait::async_trait;

/// The label of a PR that conflicts with its base.
pub const LABEL: &str = "needs-rebase";
/// The text Prow's comment carries, by which its comments are found again.
pub const NOTICE: &str = "PR needs rebase.";

/// The needs-rebase plugin.
pub struct NeedsRebase;

#[async_trait]
impl Plugin for NeedsRebase {
    fn name(&self) -> &'static str {
        "needs-rebase"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Labels pull requests that conflict with their base branch `needs-rebase`, and removes the label once they merge cleanly again.",
            commands: vec![CommandHelp {
                usage: "(no command)",
                description: "Adds or removes `needs-rebase` as the forge reports conflicts.",
                examples: vec![],
                who_can_use: "—",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        if let Some(recheck) = crate::tide::recheck_branch(event) {
            return Ok(vec![recheck]);
        }
        let Event::PullRequest(p) = event else {
            return Ok(vec![]);
        };
        if !matches!(
            p.action,
            PrAction::Opened
                | PrAction::Reopened
                | PrAction::Synchronized { .. }
                | PrAction::Edited
                | PrAction::ReadyForReview
                | PrAction::Resync
        ) {
            return Ok(vec![]);
        }
        let item = &p.pr.reference;
        let pr = cx.forge.pull_request(item).await?;
        if pr.state != ItemState::Open {
            return Ok(vec![]);
        }
        if pr.mergeable.is_none() && p.action == PrAction::Resync {
            // A base that just moved: the forge answers once it has computed the merge, so the
            // look is taken again shortly (the delivery is retried) instead of never.
            return Err(PluginError::Forge(ForgeError::Transient {
                message: format!("{item}: the forge is still computing whether it merges cleanly"),
                retry_after: Some(std::time::Duration::from_secs(2)),
            }));
        }
        let labelled = pr.labels.iter().any(|l| l.eq_ignore_ascii_case(LABEL));
        // Prow's own notice on the same account opens this way; it is taken over, not doubled.
        let prow_notice = format!("@{}: {NOTICE}", pr.author);
        Ok(match (pr.mergeable, labelled) {
            (Some(false), false) => vec![
                Action::AddLabel {
                    item: item.clone(),
                    label: LABEL.into(),
                },
                Action::UpsertBotComment {
                    item: item.clone(),
                    marker: LABEL.into(),
                    body: format_simple(&prow_notice, cx.help_url),
                    adopt: Some(prow_notice),
                },
            ],
            (Some(true), true) => vec![
                Action::RemoveLabel {
                    item: item.clone(),
                    label: LABEL.into(),
                },
                Action::DeleteBotComment {
                    item: item.clone(),
                    marker: LABEL.into(),
                    adopt: Some(prow_notice),
                },
            ],
            _ => vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, pr_event};

    #[tokio::test]
    async fn a_conflict_labels_and_a_clean_merge_unlabels() {
        let forge = MemoryForge::default();
        forge.with(|s| s.pr.mergeable = Some(false));
        let push = pr_event(PrAction::Synchronized { before: None });
        let actions = forge.run(&NeedsRebase, &push).await.expect("handled");
        assert!(matches!(&actions[0], Action::AddLabel { label, .. } if label == LABEL));
        assert!(matches!(&actions[1],
            Action::UpsertBotComment { body, .. } if body.starts_with("@pr-author: PR needs rebase.")));
        forge.with(|s| {
            s.pr.mergeable = Some(true);
            s.pr.labels = vec![LABEL.into()];
        });
        let actions = forge.run(&NeedsRebase, &push).await.expect("handled");
        assert!(matches!(&actions[0], Action::RemoveLabel { label, .. } if label == LABEL));
        assert!(matches!(&actions[1], Action::DeleteBotComment { .. }));
        forge.with(|s| s.pr.mergeable = None);
        assert!(
            forge
                .run(&NeedsRebase, &push)
                .await
                .expect("handled")
                .is_empty()
        );
    }

    /// A resync (after the base moved) while the forge is still computing asks again later;
    /// once it knows, the label follows.
    #[tokio::test]
    async fn a_resync_waits_for_the_forges_answer() {
        let forge = MemoryForge::default();
        forge.with(|s| s.pr.mergeable = None);
        let resync = pr_event(PrAction::Resync);
        match forge.run(&NeedsRebase, &resync).await {
            Err(PluginError::Forge(e)) => assert!(e.is_retryable(), "{e}"),
            other => panic!("a retryable error, not {other:?}"),
        }
        forge.with(|s| s.pr.mergeable = Some(false));
        let actions = forge.run(&NeedsRebase, &resync).await.expect("handled");
        assert!(matches!(&actions[0], Action::AddLabel { label, .. } if label == LABEL));
    }
}
