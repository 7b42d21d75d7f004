//! `shrug`: `/shrug` adds the label `¯\_(ツ)_/¯`, `/unshrug` removes it (Prow's `shrug`
//! plugin). Anyone may use it, on pull/merge requests and issues, on both forges; no replies.
//!
//! Like Prow, the command must be the whole line (`/shrug` alone, any case), and an unshrug
//! wins over a shrug in the same comment. Differences from Prow: quoted or code-block lines
//! do nothing, an edited comment acts on its newly added lines, and bosun's own comments are
//! ignored.

use crate::command::{GO_SPACE, command_text};
use crate::{
    Action, CommandHelp, CommentAction, Context, Event, ForgeKind, Plugin, PluginError, PluginHelp,
    forge::ForgeRead,
};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

/// The label a shrug puts on an issue or PR.
pub const LABEL: &str = r"¯\_(ツ)_/¯";

static SHRUG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?mi)^/shrug{GO_SPACE}*$")).expect("static regex"));
static UNSHRUG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?mi)^/unshrug{GO_SPACE}*$")).expect("static regex"));

/// What a comment asks of the label.
pub use crate::label_toggle::Toggle as ShrugCommand;

/// Finds the command; `/unshrug` wins in the same comment, as in Prow.
pub fn parse(text: &str) -> Option<ShrugCommand> {
    crate::label_toggle::parse(&SHRUG, &UNSHRUG, text)
}

/// Adds only if absent, removes only if present.
pub fn decide(cmd: ShrugCommand, item: &crate::ItemRef, has_label: bool) -> Vec<Action> {
    crate::label_toggle::decide(cmd, item, LABEL, has_label)
}

/// The shrug plugin.
pub struct Shrug;

#[async_trait]
impl Plugin for Shrug {
    fn name(&self) -> &'static str {
        "shrug"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: r"¯\_(ツ)_/¯",
            commands: vec![CommandHelp {
                usage: "/[un]shrug",
                description: r"Adds or removes the label `¯\_(ツ)_/¯`.",
                examples: vec!["/shrug", "/unshrug"],
                who_can_use: "Anyone",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(comment) = event else {
            return Ok(vec![]);
        };
        if matches!(comment.action, CommentAction::Deleted) || cx.is_bot(&comment.author) {
            return Ok(vec![]);
        }
        let Some(cmd) = parse(&command_text(comment)) else {
            return Ok(vec![]);
        };
        let labels = ForgeRead::labels(cx.forge, &comment.item.reference).await?;
        let has_label = labels.iter().any(|l| l == LABEL);
        Ok(decide(cmd, &comment.item.reference, has_label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr};

    #[test]
    fn parses_like_prow() {
        assert_eq!(parse("/shrug"), Some(ShrugCommand::Add));
        assert_eq!(parse("/SHRUG  "), Some(ShrugCommand::Add));
        assert_eq!(parse("well\n/shrug\nok"), Some(ShrugCommand::Add));
        assert_eq!(parse("/unshrug"), Some(ShrugCommand::Remove));
        assert_eq!(parse("/shrug\n/unshrug"), Some(ShrugCommand::Remove));
        assert_eq!(parse("/shrug it off"), None);
        assert_eq!(parse("please /shrug"), None);
        assert_eq!(parse("/shrugs"), None);
    }

    #[tokio::test]
    async fn shrug_adds_the_label_only_when_absent() {
        let forge = MemoryForge::default();
        let ev = comment_on_pr("anyone", "/shrug");
        let actions = forge.run(&Shrug, &ev).await.expect("handled");
        assert_eq!(
            actions,
            vec![Action::AddLabel {
                item: forge.pr_ref(),
                label: LABEL.into()
            }]
        );
        forge.set_labels(&[LABEL]);
        assert!(forge.run(&Shrug, &ev).await.expect("handled").is_empty());
    }

    #[tokio::test]
    async fn unshrug_removes_the_label_only_when_present() {
        let forge = MemoryForge::default();
        let ev = comment_on_pr("anyone", "/unshrug");
        assert!(forge.run(&Shrug, &ev).await.expect("handled").is_empty());
        forge.set_labels(&[LABEL, "kind/bug"]);
        let actions = forge.run(&Shrug, &ev).await.expect("handled");
        assert_eq!(
            actions,
            vec![Action::RemoveLabel {
                item: forge.pr_ref(),
                label: LABEL.into()
            }]
        );
    }

    #[tokio::test]
    async fn quoted_shrug_and_the_bots_own_do_nothing() {
        let forge = MemoryForge::default();
        let quoted = comment_on_pr("anyone", "> /shrug\nindeed");
        assert!(
            forge
                .run(&Shrug, &quoted)
                .await
                .expect("handled")
                .is_empty()
        );
        let bot = forge.bot_login().await.expect("bot");
        let own = comment_on_pr(bot.as_str(), "/shrug");
        assert!(forge.run(&Shrug, &own).await.expect("handled").is_empty());
    }
}
