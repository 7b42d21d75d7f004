//! `owners-label`: adds the labels OWNERS files give the touched paths (reference/prow.md
//! §3.13) when a PR is opened, reopened or gets new commits. Labels the repository does not
//! define are skipped, as in Prow; labels are never removed.

use crate::{Action, Context, Event, ItemState, Plugin, PluginError, PluginHelp, PrAction};
use async_trait::async_trait;
use std::collections::BTreeSet;

/// The plugin.
pub struct OwnersLabel;

#[async_trait]
impl Plugin for OwnersLabel {
    fn name(&self) -> &'static str {
        "owners-label"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Adds the labels listed in the OWNERS files of the paths a pull request touches (every level up to the root or no_parent_owners), when the repository defines them.",
            commands: vec![],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::PullRequest(pr) = event else {
            return Ok(vec![]);
        };
        if !matches!(
            pr.action,
            PrAction::Opened | PrAction::Reopened | PrAction::Synchronized { .. }
        ) || pr.pr.state != ItemState::Open
        {
            return Ok(vec![]);
        }
        let reference = &pr.pr.reference;
        let info = cx.forge.pull_request(reference).await?;
        let (changed, _) = cx.changed_files(reference).await?;
        let files: Vec<String> = changed.into_iter().map(|f| f.path).collect();
        let owners = cx
            .owners
            .owners_on_branch(
                cx.forge,
                &reference.repo,
                &info.base_ref,
                &info.base_sha,
                &files,
            )
            .await?;
        let wanted: BTreeSet<String> = files.iter().flat_map(|f| owners.labels(f)).collect();
        let missing: Vec<String> = wanted
            .into_iter()
            .filter(|l| !info.labels.contains(l))
            .collect();
        if missing.is_empty() {
            return Ok(vec![]);
        }
        let existing = cx.forge.repo_labels(&reference.repo).await?;
        Ok(missing
            .into_iter()
            .filter(|l| existing.contains(l))
            .map(|label| Action::AddLabel {
                item: reference.clone(),
                label,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::ChangedFile;
    use crate::testing::{MemoryForge, pr_event};

    fn added(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::AddLabel { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn adds_owners_labels_that_exist_and_are_missing() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.files.insert(
                "OWNERS".into(),
                b"approvers: [x]\nlabels: [sig/testing]\n".to_vec(),
            );
            s.files.insert(
                "docs/OWNERS".into(),
                b"filters:\n  \"\\\\.md$\":\n    labels: [kind/docs, Undefined]\n".to_vec(),
            );
            s.files.insert(
                "np/OWNERS".into(),
                b"options: {no_parent_owners: true}\napprovers: [y]\nlabels: [area/np]\n".to_vec(),
            );
            s.repo_labels = vec!["sig/testing".into(), "kind/docs".into(), "area/np".into()];
            s.pr.labels = vec!["sig/testing".into()];
            s.changed_files = ["docs/guide.md", "np/z.go"]
                .iter()
                .map(|p| ChangedFile {
                    path: p.to_string(),
                    previous_path: None,
                    additions: 1,
                    deletions: 0,
                })
                .collect();
        });
        let actions = forge
            .run(&OwnersLabel, &pr_event(PrAction::Opened))
            .await
            .unwrap();
        assert_eq!(added(&actions), vec!["area/np", "kind/docs"]);
        let none = forge
            .run(&OwnersLabel, &pr_event(PrAction::Edited))
            .await
            .unwrap();
        assert!(none.is_empty());
        forge.with(|s| {
            s.pr.labels = vec!["sig/testing".into(), "area/np".into(), "kind/docs".into()]
        });
        let calls = forge.snapshot().calls;
        let again = forge
            .run(
                &OwnersLabel,
                &pr_event(PrAction::Synchronized { before: None }),
            )
            .await
            .unwrap();
        assert!(again.is_empty());
        assert!(
            forge.snapshot().calls - calls <= 4,
            "no repo label listing when nothing is missing"
        );
    }
}
