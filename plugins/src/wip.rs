//! `wip`: a draft PR, or one whose title starts with `WIP` (`WIP: x`, `[WIP] x`, `wip x`), gets
//! `do-not-merge/work-in-progress`; otherwise the label is removed (Prow §3.6). No commands.

use crate::{Action, Context, Event, Plugin, PluginError, PluginHelp, PrAction, PullRequestEvent};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

/// The label.
pub const LABEL: &str = "do-not-merge/work-in-progress";

static TITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^[^0-9A-Za-z_]?WIP[^0-9A-Za-z_]").expect("static regex"));

/// Whether a PR should carry the label.
pub fn needs_label(title: &str, draft: bool) -> bool {
    draft || TITLE.is_match(title)
}

/// Adds or removes the label to match (exact-case presence check, as Prow).
pub fn decide(pr: &PullRequestEvent, labels: &[String]) -> Vec<Action> {
    let has = labels.iter().any(|l| l == LABEL);
    let item = pr.pr.reference.clone();
    match (needs_label(&pr.pr.title, pr.pr.draft), has) {
        (true, false) => vec![Action::AddLabel {
            item,
            label: LABEL.into(),
        }],
        (false, true) => vec![Action::RemoveLabel {
            item,
            label: LABEL.into(),
        }],
        _ => vec![],
    }
}

/// The wip plugin.
pub struct Wip;

#[async_trait]
impl Plugin for Wip {
    fn name(&self) -> &'static str {
        "wip"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Labels draft pull requests and those whose title starts with WIP with `do-not-merge/work-in-progress`, and removes the label when they are ready.",
            commands: vec![],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::PullRequest(pr) = event else {
            return Ok(vec![]);
        };
        let relevant = matches!(
            pr.action,
            PrAction::Opened
                | PrAction::Reopened
                | PrAction::Edited
                | PrAction::ReadyForReview
                | PrAction::ConvertedToDraft
        );
        if !relevant {
            return Ok(vec![]);
        }
        let labels = cx.forge.labels(&pr.pr.reference).await?;
        Ok(decide(pr, &labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_like_prow() {
        for t in ["WIP: x", "[WIP] x", "wip x", "(wip) y"] {
            assert!(needs_label(t, false), "{t}");
        }
        for t in ["WIP", "wipe out", "Fix WIP: x", "x"] {
            assert!(!needs_label(t, false), "{t}");
        }
        assert!(needs_label("ready", true));
    }
}
