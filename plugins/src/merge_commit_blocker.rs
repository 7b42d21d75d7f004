//! `mergecommitblocker`: a pull/merge request containing a merge commit (a commit with more
//! than one parent) gets `do-not-merge/contains-merge-commits` and Prow's comment asking for
//! a rebase; once it contains none, the label and the comment go.
//!
//! Runs when a PR is opened, reopened or pushed to, as Prow. No commands.
//!
//! Differences from Prow: Prow clones the repository and walks `base..head`; bosun reads the
//! forge's list of the PR's commits (the same list dco and invalidcommitmsg read, once per
//! delivery). On GitLab that list names no parents, so the adapter asks for the parents of
//! commits whose title starts with `Merge ` only: a merge commit whose message was rewritten
//! to read otherwise is not seen there. Prow's `excluded_paths` (merge commits touching only
//! matching files are allowed) is not offered. The comment is one notice (Prow's own on the
//! same account is taken over).

use crate::reply::format_simple;
use crate::{
    Action, CommandHelp, Context, Event, ForgeKind, ItemState, Plugin, PluginError, PluginHelp,
    PrAction,
};
use async_trait::async_trait;

/// The label of a PR containing merge commits.
pub const LABEL: &str = "do-not-merge/contains-merge-commits";
/// How Prow's comment opens; its comments on the same account are found by it.
pub const NOTICE: &str = "Adding label `do-not-merge/contains-merge-commits` because PR contains merge commits, which are not allowed in this repository.";

/// Prow's comment (without its footer).
pub fn notice() -> String {
    format!(
        "{NOTICE}\nUse `git rebase` to reapply your commits on top of the target branch. Detailed instructions for doing so can be found [here](https://git.k8s.io/community/contributors/guide/github-workflow.md#4-keep-your-branch-in-sync)."
    )
}

/// Adds the label and notice while a merge commit is present, removes both once none is.
pub fn decide(
    item: &crate::ItemRef,
    has_merge: bool,
    labelled: bool,
    help_url: &str,
) -> Vec<Action> {
    match (has_merge, labelled) {
        (true, false) => vec![
            Action::AddLabel {
                item: item.clone(),
                label: LABEL.into(),
            },
            Action::UpsertBotComment {
                item: item.clone(),
                marker: "mergecommitblocker".into(),
                body: format_simple(&notice(), help_url),
                adopt: Some(NOTICE.into()),
            },
        ],
        (false, true) => vec![
            Action::RemoveLabel {
                item: item.clone(),
                label: LABEL.into(),
            },
            Action::DeleteBotComment {
                item: item.clone(),
                marker: "mergecommitblocker".into(),
                adopt: Some(NOTICE.into()),
            },
        ],
        _ => vec![],
    }
}

/// The mergecommitblocker plugin.
pub struct MergeCommitBlocker;

#[async_trait]
impl Plugin for MergeCommitBlocker {
    fn name(&self) -> &'static str {
        "mergecommitblocker"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Labels pull requests that contain merge commits `do-not-merge/contains-merge-commits`, asking for a rebase, and removes the label once they contain none.",
            commands: vec![CommandHelp {
                usage: "(no command)",
                description: "Adds or removes `do-not-merge/contains-merge-commits` as the commits change.",
                examples: vec![],
                who_can_use: "—",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::PullRequest(p) = event else {
            return Ok(vec![]);
        };
        if !matches!(
            p.action,
            PrAction::Opened | PrAction::Reopened | PrAction::Synchronized { .. }
        ) {
            return Ok(vec![]);
        }
        let item = &p.pr.reference;
        let pr = cx.forge.pull_request(item).await?;
        if pr.state != ItemState::Open {
            return Ok(vec![]);
        }
        let commits = cx.forge.pr_commits(item).await?;
        let has_merge = commits.iter().any(|c| c.is_merge());
        let labelled = pr.labels.iter().any(|l| l.eq_ignore_ascii_case(LABEL));
        Ok(decide(item, has_merge, labelled, cx.help_url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, commit, pr_event};

    #[tokio::test]
    async fn a_merge_commit_labels_and_its_removal_unlabels() {
        let forge = MemoryForge::default();
        let mut merge = commit("m1", "alice", "Merge branch 'main' into feature");
        merge.parents = 2;
        forge.with(|s| s.pr_commits = vec![commit("a1", "alice", "Work"), merge]);
        let push = pr_event(PrAction::Synchronized { before: None });
        let actions = forge
            .run(&MergeCommitBlocker, &push)
            .await
            .expect("handled");
        assert!(matches!(&actions[0], Action::AddLabel { label, .. } if label == LABEL));
        assert!(matches!(&actions[1],
            Action::UpsertBotComment { body, .. } if body.starts_with(NOTICE)));

        forge.with(|s| s.pr.labels = vec![LABEL.into()]);
        assert!(
            forge
                .run(&MergeCommitBlocker, &push)
                .await
                .expect("ok")
                .is_empty(),
            "already labelled"
        );
        forge.with(|s| s.pr_commits = vec![commit("a2", "alice", "Work, rebased")]);
        let actions = forge
            .run(&MergeCommitBlocker, &push)
            .await
            .expect("handled");
        assert!(matches!(&actions[0], Action::RemoveLabel { label, .. } if label == LABEL));
        assert!(matches!(&actions[1], Action::DeleteBotComment { .. }));
    }

    #[tokio::test]
    async fn a_merge_looking_title_alone_is_no_merge_commit_and_edits_are_ignored() {
        let forge = MemoryForge::default();
        forge.with(|s| s.pr_commits = vec![commit("a1", "alice", "Merge two helpers")]);
        let actions = forge
            .run(&MergeCommitBlocker, &pr_event(PrAction::Opened))
            .await
            .expect("ok");
        assert!(actions.is_empty());
        let mut merge = commit("m1", "alice", "Merge");
        merge.parents = 2;
        forge.with(|s| s.pr_commits = vec![merge]);
        assert!(
            forge
                .run(&MergeCommitBlocker, &pr_event(PrAction::Edited))
                .await
                .expect("ok")
                .is_empty()
        );
    }
}
