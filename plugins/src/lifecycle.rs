//! `lifecycle`: `/lifecycle frozen|stale|rotten|active` and `/remove-lifecycle …` (anyone), and
//! `/close`, `/close not-planned`, `/reopen` (the author or a collaborator; anyone may close an
//! item that is stale or rotten) (Prow §3.9).
//!
//! Differences from Prow: GitLab runs `/close` and `/reopen` itself, so there bosun reads
//! `/bosun-close` and `/bosun-reopen`; GitLab has no "not planned" close reason, so
//! `/close not-planned` closes plainly there.

use crate::command::{GO_SPACE, command_text};
use crate::forge::CloseReason;
use crate::reply::format_response;
use crate::{
    Action, CommandHelp, CommentAction, CommentEvent, Context, Event, ForgeKind, ItemState, Plugin,
    PluginError, PluginHelp,
};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

const STATES: [&str; 4] = ["active", "frozen", "stale", "rotten"];

static LIFECYCLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?mi)^/(remove-)?lifecycle (active|frozen|stale|rotten){GO_SPACE}*$"
    ))
    .expect("static regex")
});
static CLOSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?mi)^/close( not-planned)?{GO_SPACE}*$")).expect("static regex")
});
static REOPEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?mi)^/reopen{GO_SPACE}*$")).expect("static regex"));

/// The lifecycle plugin.
pub struct Lifecycle;

fn reply(c: &CommentEvent, text: &str, help_url: &str) -> Action {
    Action::Comment {
        item: c.item.reference.clone(),
        body: format_response(&c.author, text, &c.body, &c.html_url, help_url),
    }
}

fn has(labels: &[String], l: &str) -> bool {
    labels.iter().any(|x| x.eq_ignore_ascii_case(l))
}

/// `/lifecycle` lines, purely.
pub fn decide_lifecycle(
    c: &CommentEvent,
    text: &str,
    labels: &[String],
    help_url: &str,
) -> Vec<Action> {
    let item = c.item.reference.clone();
    let mut actions = Vec::new();
    for caps in LIFECYCLE.captures_iter(text) {
        let remove = caps.get(1).is_some();
        let state = caps.get(2).map_or("", |m| m.as_str()).to_ascii_lowercase();
        let label = format!("lifecycle/{state}");
        if remove {
            if has(labels, &label) {
                actions.push(Action::RemoveLabel {
                    item: item.clone(),
                    label,
                });
            }
            continue;
        }
        if state == "frozen" && c.item.is_pr() {
            actions.push(reply(
                c,
                "The `lifecycle/frozen` label cannot be applied to Pull Requests.",
                help_url,
            ));
            continue;
        }
        if !has(labels, &label) {
            actions.push(Action::AddLabel {
                item: item.clone(),
                label: label.clone(),
            });
        }
        for other in STATES
            .iter()
            .map(|s| format!("lifecycle/{s}"))
            .filter(|o| *o != label)
        {
            if has(labels, &other) {
                actions.push(Action::RemoveLabel {
                    item: item.clone(),
                    label: other,
                });
            }
        }
    }
    actions
}

impl Lifecycle {
    async fn close_or_reopen(
        &self,
        c: &CommentEvent,
        text: &str,
        labels: &[String],
        cx: &Context<'_>,
    ) -> Result<Vec<Action>, PluginError> {
        let item = c.item.reference.clone();
        let what = if c.item.is_pr() { "PR" } else { "issue" };
        let trusted = || async {
            Ok::<bool, PluginError>(
                c.author == c.item.author
                    || cx.forge.is_collaborator(&item.repo, &c.author).await?,
            )
        };
        if let Some(caps) = CLOSE.captures(text)
            && c.item.state == ItemState::Open
        {
            let not_planned = caps.get(1).is_some();
            let stale = has(labels, "lifecycle/stale") || has(labels, "lifecycle/rotten");
            if !stale && !trusted().await? {
                return Ok(vec![reply(
                    c,
                    "You can't close an active issue/PR unless you authored it or you are a collaborator.",
                    cx.help_url,
                )]);
            }
            if not_planned && c.item.is_pr() {
                return Ok(vec![reply(
                    c,
                    "PRs cannot be closed as Not Planned.",
                    cx.help_url,
                )]);
            }
            let text = match (c.item.is_pr(), not_planned) {
                (true, _) => "Closed this PR.",
                (false, true) => "Closing this issue, marking it as \"Not Planned\".",
                (false, false) => "Closing this issue.",
            };
            return Ok(vec![
                Action::Close {
                    item: item.clone(),
                    reason: not_planned.then_some(CloseReason::NotPlanned),
                },
                reply(c, text, cx.help_url),
            ]);
        }
        if REOPEN.is_match(text) && c.item.state != ItemState::Open {
            if !trusted().await? {
                return Ok(vec![reply(
                    c,
                    "You can't reopen an issue/PR unless you authored it or you are a collaborator.",
                    cx.help_url,
                )]);
            }
            return Ok(vec![
                Action::Reopen { item },
                reply(c, &format!("Reopened this {what}."), cx.help_url),
            ]);
        }
        Ok(vec![])
    }
}

#[async_trait]
impl Plugin for Lifecycle {
    fn name(&self) -> &'static str {
        "lifecycle"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Marks issues and pull requests as active, frozen, stale or rotten, and closes or reopens them.",
            commands: vec![
                CommandHelp {
                    usage: "/[remove-]lifecycle <active|frozen|stale|rotten>",
                    description: "Sets or removes the `lifecycle/<state>` label; setting one removes the others. `frozen` is for issues only.",
                    examples: vec!["/lifecycle frozen", "/remove-lifecycle stale"],
                    who_can_use: "Anyone",
                    forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
                },
                CommandHelp {
                    usage: "/close [not-planned]",
                    description: "Closes the issue or PR. On GitLab: /bosun-close.",
                    examples: vec!["/close", "/close not-planned"],
                    who_can_use: "The author and collaborators; anyone when the item is stale or rotten.",
                    forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
                },
                CommandHelp {
                    usage: "/reopen",
                    description: "Reopens the issue or PR. On GitLab: /bosun-reopen.",
                    examples: vec!["/reopen"],
                    who_can_use: "The author and collaborators.",
                    forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
                },
            ],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        if matches!(c.action, CommentAction::Deleted) {
            return Ok(vec![]);
        }
        let text = command_text(c);
        let wants = LIFECYCLE.is_match(&text) || CLOSE.is_match(&text) || REOPEN.is_match(&text);
        if !wants {
            return Ok(vec![]);
        }
        let labels = cx.forge.labels(&c.item.reference).await?;
        let mut actions = decide_lifecycle(c, &text, &labels, cx.help_url);
        actions.extend(self.close_or_reopen(c, &text, &labels, cx).await?);
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr, pr_ref};

    fn on_issue(author: &str, body: &str, state: ItemState) -> Event {
        let Event::Comment(mut c) = comment_on_pr(author, body) else {
            unreachable!()
        };
        c.item.reference.kind = crate::ItemKind::Issue;
        c.item.state = state;
        Event::Comment(c)
    }

    fn replies(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Comment { body, .. } => Some(body.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Prow lifecycle: setting a state adds it and removes the others.
    #[tokio::test]
    async fn lifecycle_state_replaces_others() {
        let forge = MemoryForge::default();
        forge.set_labels(&["lifecycle/stale"]);
        let actions = forge
            .run(
                &Lifecycle,
                &on_issue("x", "/lifecycle rotten", ItemState::Open),
            )
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![
                Action::AddLabel {
                    item: crate::ItemRef {
                        kind: crate::ItemKind::Issue,
                        ..pr_ref()
                    },
                    label: "lifecycle/rotten".into()
                },
                Action::RemoveLabel {
                    item: crate::ItemRef {
                        kind: crate::ItemKind::Issue,
                        ..pr_ref()
                    },
                    label: "lifecycle/stale".into()
                },
            ]
        );
        assert!(
            forge
                .run(
                    &Lifecycle,
                    &on_issue("x", "/lifecycle frozen stale", ItemState::Open)
                )
                .await
                .expect("handled")
                .is_empty()
        );
    }

    /// Prow lifecycle: frozen is refused on PRs.
    #[tokio::test]
    async fn frozen_refused_on_prs() {
        let forge = MemoryForge::default();
        let actions = forge
            .run(&Lifecycle, &comment_on_pr("x", "/lifecycle frozen"))
            .await
            .expect("handled");
        assert!(
            replies(&actions)[0]
                .contains("The `lifecycle/frozen` label cannot be applied to Pull Requests.")
        );
    }

    /// Prow lifecycle: `/remove-lifecycle` removes only when present.
    #[tokio::test]
    async fn remove_lifecycle() {
        let forge = MemoryForge::default();
        assert!(
            forge
                .run(
                    &Lifecycle,
                    &on_issue("x", "/remove-lifecycle stale", ItemState::Open)
                )
                .await
                .expect("handled")
                .is_empty()
        );
        forge.set_labels(&["lifecycle/stale"]);
        assert_eq!(
            forge
                .run(
                    &Lifecycle,
                    &on_issue("x", "/remove-lifecycle stale", ItemState::Open)
                )
                .await
                .expect("handled")
                .len(),
            1
        );
    }

    /// Prow close: the author or a collaborator closes; others are refused unless stale.
    #[tokio::test]
    async fn close_rules() {
        let forge = MemoryForge::default();
        let actions = forge
            .run(&Lifecycle, &comment_on_pr("pr-author", "/close"))
            .await
            .expect("handled");
        assert_eq!(
            actions[0],
            Action::Close {
                item: pr_ref(),
                reason: None
            }
        );
        assert!(replies(&actions)[0].contains("Closed this PR."));
        let actions = forge
            .run(&Lifecycle, &comment_on_pr("stranger", "/close"))
            .await
            .expect("handled");
        assert!(replies(&actions)[0].contains(
            "You can't close an active issue/PR unless you authored it or you are a collaborator."
        ));
        forge.set_labels(&["lifecycle/rotten"]);
        let actions = forge
            .run(&Lifecycle, &comment_on_pr("stranger", "/close"))
            .await
            .expect("handled");
        assert_eq!(
            actions[0],
            Action::Close {
                item: pr_ref(),
                reason: None
            }
        );
    }

    /// Prow close: not-planned closes issues, refuses on PRs.
    #[tokio::test]
    async fn close_not_planned() {
        let forge = MemoryForge::default();
        let actions = forge
            .run(
                &Lifecycle,
                &on_issue("pr-author", "/close not-planned", ItemState::Open),
            )
            .await
            .expect("handled");
        assert!(
            replies(&actions)[0].contains("Closing this issue, marking it as \"Not Planned\".")
        );
        assert!(
            matches!(
                actions[0],
                Action::Close {
                    reason: Some(CloseReason::NotPlanned),
                    ..
                }
            ),
            "{actions:?}"
        );
        let actions = forge
            .run(
                &Lifecycle,
                &comment_on_pr("pr-author", "/close not-planned"),
            )
            .await
            .expect("handled");
        assert_eq!(actions.len(), 1);
        assert!(replies(&actions)[0].contains("PRs cannot be closed as Not Planned."));
    }

    /// A close journaled before actions carried a reason still decodes (as no reason), and a
    /// close without a reason serializes as it always did.
    #[test]
    fn close_actions_without_a_reason_keep_their_form() {
        let plain = Action::Close {
            item: pr_ref(),
            reason: None,
        };
        let json = serde_json::to_value(&plain).expect("serializes");
        assert!(json.get("reason").is_none(), "{json}");
        let old: Action = serde_json::from_value(json).expect("decodes");
        assert_eq!(old, plain);
        let not_planned = Action::Close {
            item: pr_ref(),
            reason: Some(CloseReason::NotPlanned),
        };
        let json = serde_json::to_value(&not_planned).expect("serializes");
        assert_eq!(json["reason"], "not_planned");
    }

    /// Prow reopen: only closed items, only the author or collaborators.
    #[tokio::test]
    async fn reopen_rules() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["collab"]);
        assert!(
            forge
                .run(&Lifecycle, &on_issue("collab", "/reopen", ItemState::Open))
                .await
                .expect("handled")
                .is_empty()
        );
        let actions = forge
            .run(
                &Lifecycle,
                &on_issue("collab", "/reopen", ItemState::Closed),
            )
            .await
            .expect("handled");
        assert!(matches!(actions[0], Action::Reopen { .. }));
        assert!(replies(&actions)[0].contains("Reopened this issue."));
        let actions = forge
            .run(
                &Lifecycle,
                &on_issue("stranger", "/reopen", ItemState::Closed),
            )
            .await
            .expect("handled");
        assert!(replies(&actions)[0].contains(
            "You can't reopen an issue/PR unless you authored it or you are a collaborator."
        ));
    }
}
