//! `help`: `/help` and `/good-first-issue` ask for contributors on an open issue, adding
//! `help wanted` (and `good first issue`) with a notice; `/remove-help` and
//! `/remove-good-first-issue` take them back (Prow §3.10). Anyone may use them; issues only.

use crate::command::{GO_SPACE, command_text};
use crate::reply::format_response;
use crate::{
    Action, CommandHelp, CommentAction, Context, Event, ForgeKind, ItemState, Plugin, PluginError,
    PluginHelp,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

/// The labels.
pub const HELP: &str = "help wanted";
pub const GOOD_FIRST: &str = "good first issue";
const HELP_MARKER: &str = "help-wanted";
const GOOD_FIRST_MARKER: &str = "good-first-issue";

fn re(cmd: &str) -> Regex {
    Regex::new(&format!(r"(?mi)^/{cmd}{GO_SPACE}*$")).expect("static regex")
}
static ADD_HELP: LazyLock<Regex> = LazyLock::new(|| re("help"));
static REMOVE_HELP: LazyLock<Regex> = LazyLock::new(|| re("remove-help"));
static ADD_GOOD: LazyLock<Regex> = LazyLock::new(|| re("good-first-issue"));
static REMOVE_GOOD: LazyLock<Regex> = LazyLock::new(|| re("remove-good-first-issue"));

/// `[settings.help."org/repo"]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HelpSettings {
    /// Where the guidelines for help-wanted issues live. Default Kubernetes' guide.
    pub help_guidelines_url: String,
    /// A short summary shown under `### Guidelines`. Default none.
    pub help_guidelines_summary: Option<String>,
}

impl Default for HelpSettings {
    fn default() -> Self {
        HelpSettings {
            help_guidelines_url: "https://git.k8s.io/community/contributors/guide/help-wanted.md"
                .into(),
            help_guidelines_summary: None,
        }
    }
}

fn message(settings: &HelpSettings, good_first: bool) -> String {
    let (what, anchor, undo) = if good_first {
        (
            "This request has been marked as suitable for new contributors.",
            "#good-first-issue",
            "/remove-good-first-issue",
        )
    } else {
        (
            "This request has been marked as needing help from a contributor.",
            "",
            "/remove-help",
        )
    };
    let mut text = format!(
        "\n\t{what}\n\nPlease ensure the request meets the requirements listed [here]({}{anchor}).\n",
        settings.help_guidelines_url
    );
    if let Some(summary) = &settings.help_guidelines_summary {
        text.push_str(&format!("\n### Guidelines\n{summary}\n"));
    }
    text.push_str(&format!("\nIf this request no longer meets these requirements, the label can be removed by commenting with the `{undo}` command.\n"));
    text
}

/// The help plugin.
pub struct Help;

#[async_trait]
impl Plugin for Help {
    fn name(&self) -> &'static str {
        "help"
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<HelpSettings>(settings)
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Marks issues as needing help from contributors (`help wanted`) or as suitable for new contributors (`good first issue`).",
            commands: vec![
                CommandHelp {
                    usage: "/[remove-]help",
                    description: "Adds or removes the `help wanted` label on an issue.",
                    examples: vec!["/help", "/remove-help"],
                    who_can_use: "Anyone, on open issues.",
                    forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
                },
                CommandHelp {
                    usage: "/[remove-]good-first-issue",
                    description: "Adds or removes `good first issue` (and adds `help wanted`).",
                    examples: vec!["/good-first-issue", "/remove-good-first-issue"],
                    who_can_use: "Anyone, on open issues.",
                    forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
                },
            ],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        if c.item.is_pr()
            || c.item.state != ItemState::Open
            || matches!(c.action, CommentAction::Deleted)
        {
            return Ok(vec![]);
        }
        let text = command_text(c);
        let asked = [&*ADD_HELP, &*REMOVE_HELP, &*ADD_GOOD, &*REMOVE_GOOD]
            .iter()
            .any(|r| r.is_match(&text));
        if !asked {
            return Ok(vec![]);
        }
        let settings: HelpSettings = cx.settings()?;
        let labels = cx.forge.labels(&c.item.reference).await?;
        let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
        let item = c.item.reference.clone();
        let notice = |marker: &str, good_first: bool| Action::UpsertBotComment {
            item: item.clone(),
            marker: marker.into(),
            body: format_response(
                &c.author,
                &message(&settings, good_first),
                &c.body,
                &c.item.html_url,
                cx.help_url,
            ),
            adopt: None,
        };
        let add = |l: &str| Action::AddLabel {
            item: item.clone(),
            label: l.into(),
        };
        let remove = |l: &str| Action::RemoveLabel {
            item: item.clone(),
            label: l.into(),
        };
        let delete = |m: &str| Action::DeleteBotComment {
            item: item.clone(),
            marker: m.into(),
            adopt: None,
        };
        // Prow takes the first applicable branch only.
        let actions = if has(HELP) && REMOVE_HELP.is_match(&text) {
            let mut a = vec![remove(HELP), delete(HELP_MARKER)];
            if has(GOOD_FIRST) {
                a.extend([remove(GOOD_FIRST), delete(GOOD_FIRST_MARKER)]);
            }
            a
        } else if !has(GOOD_FIRST) && ADD_GOOD.is_match(&text) {
            let mut a = vec![notice(GOOD_FIRST_MARKER, true), add(GOOD_FIRST)];
            if !has(HELP) {
                a.push(add(HELP));
            }
            a
        } else if !has(HELP) && ADD_HELP.is_match(&text) {
            vec![notice(HELP_MARKER, false), add(HELP)]
        } else if has(GOOD_FIRST) && REMOVE_GOOD.is_match(&text) {
            vec![remove(GOOD_FIRST), delete(GOOD_FIRST_MARKER)]
        } else {
            vec![]
        };
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr};

    fn on_issue(body: &str) -> Event {
        let Event::Comment(mut c) = comment_on_pr("someone", body) else {
            unreachable!()
        };
        c.item.reference.kind = crate::ItemKind::Issue;
        Event::Comment(c)
    }

    fn labels(actions: &[Action], adding: bool) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match (a, adding) {
                (Action::AddLabel { label, .. }, true)
                | (Action::RemoveLabel { label, .. }, false) => Some(label.clone()),
                _ => None,
            })
            .collect()
    }

    /// Prow help: /help adds `help wanted` with a notice.
    #[tokio::test]
    async fn help_adds_label_and_notice() {
        let forge = MemoryForge::default();
        let actions = forge.run(&Help, &on_issue("/help")).await.expect("handled");
        assert_eq!(labels(&actions, true), vec![HELP]);
        assert!(
            matches!(&actions[0], Action::UpsertBotComment { body, .. } if body.contains("This request has been marked as needing help from a contributor."))
        );
    }

    /// Prow help: /good-first-issue adds both labels.
    #[tokio::test]
    async fn good_first_issue_adds_both() {
        let forge = MemoryForge::default();
        let actions = forge
            .run(&Help, &on_issue("/good-first-issue"))
            .await
            .expect("handled");
        assert_eq!(labels(&actions, true), vec![GOOD_FIRST, HELP]);
    }

    /// Prow help: /remove-help removes both labels and their notices.
    #[tokio::test]
    async fn remove_help_removes_both() {
        let forge = MemoryForge::default();
        forge.set_labels(&[HELP, GOOD_FIRST]);
        let actions = forge
            .run(&Help, &on_issue("/remove-help"))
            .await
            .expect("handled");
        assert_eq!(labels(&actions, false), vec![HELP, GOOD_FIRST]);
        let actions = forge
            .run(&Help, &on_issue("/remove-good-first-issue"))
            .await
            .expect("handled");
        assert_eq!(labels(&actions, false), vec![GOOD_FIRST]);
    }

    /// Prow help: PRs are ignored.
    #[tokio::test]
    async fn pull_requests_are_ignored() {
        let forge = MemoryForge::default();
        assert!(
            forge
                .run(&Help, &comment_on_pr("someone", "/help"))
                .await
                .expect("handled")
                .is_empty()
        );
    }
}
