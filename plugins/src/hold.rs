//! `hold`: `/hold` adds `do-not-merge/hold`; `/hold cancel`, `/unhold` and `/remove-hold`
//! remove it. Anyone may use it, on pull/merge requests only; no replies (Prow §3.5).
//!
//! Differences from Prow: quoted or code-block `/hold` lines do nothing, and an edited
//! comment acts on its newly added lines.

use crate::command::{GO_SPACE, command_text};
use crate::{
    Action, CommandHelp, Context, Event, ForgeKind, Plugin, PluginError, PluginHelp,
    forge::ForgeRead,
};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

/// The label a hold puts on a PR.
pub const LABEL: &str = "do-not-merge/hold";

static HOLD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?mi)^/hold({GO_SPACE}.*)?$")).expect("static regex"));
static CANCEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?mi)^/(remove-hold|hold{GO_SPACE}+cancel|unhold)({GO_SPACE}.*)?$"
    ))
    .expect("static regex")
});

/// What a comment asks of the label.
pub use crate::label_toggle::Toggle as HoldCommand;

/// Finds the command; a cancel wins in the same comment, as in Prow.
pub fn parse(text: &str) -> Option<HoldCommand> {
    crate::label_toggle::parse(&HOLD, &CANCEL, text)
}

/// Adds only if absent, removes only if present.
pub fn decide(cmd: HoldCommand, item: &crate::ItemRef, has_label: bool) -> Vec<Action> {
    crate::label_toggle::decide(cmd, item, LABEL, has_label)
}

/// The hold plugin.
pub struct Hold;

#[async_trait]
impl Plugin for Hold {
    fn name(&self) -> &'static str {
        "hold"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Adds or removes the `do-not-merge/hold` label, which keeps a pull request from being merged.",
            commands: vec![CommandHelp {
                usage: "/[remove-][un]hold [cancel]",
                description: "Adds or removes the `do-not-merge/hold` label.",
                examples: vec!["/hold", "/hold cancel", "/unhold", "/remove-hold"],
                who_can_use: "Anyone",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(comment) = event else {
            return Ok(vec![]);
        };
        if !comment.item.is_pr() {
            return Ok(vec![]);
        }
        let Some(cmd) = parse(&command_text(comment)) else {
            return Ok(vec![]);
        };
        let labels = ForgeRead::labels(cx.forge, &comment.item.reference).await?;
        let has_label = labels.iter().any(|l| l.eq_ignore_ascii_case(LABEL));
        Ok(decide(cmd, &comment.item.reference, has_label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr};

    #[test]
    fn parses_prow_examples() {
        assert_eq!(parse("/hold"), Some(HoldCommand::Add));
        assert_eq!(parse("/hold for review"), Some(HoldCommand::Add));
        assert_eq!(parse("/HOLD"), Some(HoldCommand::Add));
        assert_eq!(parse("/hold  cancel reason"), Some(HoldCommand::Remove));
        assert_eq!(parse("/hold cancellation"), Some(HoldCommand::Add));
        assert_eq!(parse("/unhold"), Some(HoldCommand::Remove));
        assert_eq!(parse("/remove-hold"), Some(HoldCommand::Remove));
        assert_eq!(parse("please /hold"), None);
        assert_eq!(parse("/holdup"), None);
        // Go's `$` does not match before `\r`, but `\s.*` swallows it.
        assert_eq!(parse("/hold\r"), Some(HoldCommand::Add));
        // U+00A0 is not Go's `\s`.
        assert_eq!(parse("/hold\u{a0}x"), None);
    }

    #[tokio::test]
    async fn hold_adds_label_only_when_absent() {
        let forge = MemoryForge::default();
        let ev = comment_on_pr("alice", "/hold");
        let actions = forge.run(&Hold, &ev).await.expect("handled");
        assert_eq!(
            actions,
            vec![Action::AddLabel {
                item: forge.pr_ref(),
                label: LABEL.into()
            }]
        );
        forge.set_labels(&[LABEL]);
        assert!(forge.run(&Hold, &ev).await.expect("handled").is_empty());
    }

    #[tokio::test]
    async fn cancel_removes_label_only_when_present() {
        let forge = MemoryForge::default();
        let ev = comment_on_pr("alice", "/hold cancel");
        assert!(forge.run(&Hold, &ev).await.expect("handled").is_empty());
        forge.set_labels(&["Do-Not-Merge/Hold"]);
        let actions = forge.run(&Hold, &ev).await.expect("handled");
        assert_eq!(
            actions,
            vec![Action::RemoveLabel {
                item: forge.pr_ref(),
                label: LABEL.into()
            }]
        );
    }

    #[tokio::test]
    async fn quoted_hold_does_nothing() {
        let forge = MemoryForge::default();
        let ev = comment_on_pr("alice", "> /hold\nI disagree with the hold above");
        assert!(forge.run(&Hold, &ev).await.expect("handled").is_empty());
    }
}
