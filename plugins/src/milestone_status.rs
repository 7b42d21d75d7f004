//! `milestonestatus`: `/status approved-for-milestone`, `/status in-progress` and
//! `/status in-review` put the matching `status/…` label on an issue or PR and take the other
//! two off, so an item has one status at a time. The same maintainers as `/milestone` may (its
//! `[settings.milestone]`: `maintainers_team`, or the repository's admins without one); others
//! get Prow's refusal. Unknown statuses are ignored, as in Prow.
//!
//! Differences from Prow: Prow only adds the label and leaves the other statuses on; bosun
//! keeps one. When a comment names several statuses, the last one counts. Quoted or
//! code-block commands do nothing.

use crate::command::{GO_SPACE, command_text};
use crate::milestone::{MilestoneSettings, is_maintainer, maintainers_phrase};
use crate::reply::format_response;
use crate::{
    Action, CommandHelp, CommentAction, Context, Event, ForgeKind, ItemRef, Plugin, PluginError,
    PluginHelp,
};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

static STATUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?m)^/status{GO_SPACE}+(.+)$")).expect("static regex"));

/// The label each status command sets, as in Prow's `statusMap`.
pub const STATUSES: [(&str, &str); 3] = [
    ("approved-for-milestone", "status/approved-for-milestone"),
    ("in-progress", "status/in-progress"),
    ("in-review", "status/in-review"),
];

/// The label the comment's last known `/status` asks for.
pub fn parse(text: &str) -> Option<&'static str> {
    STATUS
        .captures_iter(text)
        .filter_map(|c| {
            let word = c.get(1)?.as_str().trim();
            STATUSES.iter().find(|(w, _)| *w == word).map(|(_, l)| *l)
        })
        .last()
}

/// Prow's refusal, worded for bosun's maintainers.
pub fn refusal(forge: ForgeKind, org: &str, settings: &MilestoneSettings) -> String {
    format!(
        "You must be {} to add status labels. If you believe you should be able to issue the /status command, please contact your {} and have them propose you as an additional delegate for this responsibility.",
        maintainers_phrase(forge, org, settings),
        settings.friendly_name()
    )
}

/// Adds `label` unless present and removes the other status labels the item has.
pub fn decide(item: &ItemRef, label: &str, labels: &[String]) -> Vec<Action> {
    let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    let mut out = Vec::new();
    if !has(label) {
        out.push(Action::AddLabel {
            item: item.clone(),
            label: label.into(),
        });
    }
    for (_, other) in STATUSES {
        if other != label && has(other) {
            out.push(Action::RemoveLabel {
                item: item.clone(),
                label: other.into(),
            });
        }
    }
    out
}

/// The milestonestatus plugin.
pub struct MilestoneStatus;

#[async_trait]
impl Plugin for MilestoneStatus {
    fn name(&self) -> &'static str {
        "milestonestatus"
    }

    /// One team decides milestones and statuses.
    fn settings_from(&self) -> &'static str {
        "milestone"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Sets the status of an issue or pull request in its milestone with a `status/*` label.",
            commands: vec![CommandHelp {
                usage: "/status (approved-for-milestone|in-progress|in-review)",
                description: "Applies the matching `status/*` label and removes the other status labels.",
                examples: vec![
                    "/status approved-for-milestone",
                    "/status in-progress",
                    "/status in-review",
                ],
                who_can_use: "Members of the milestone maintainers team (`maintainers_team` of the milestone settings); without one, repository admins.",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    /// Its own settings key would never be read: say where they go.
    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        if settings.is_null() || settings.as_object().is_some_and(|m| m.is_empty()) {
            Ok(())
        } else {
            Err("milestonestatus reads the milestone settings: write them under [settings.milestone]".into())
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        if matches!(c.action, CommentAction::Deleted) || cx.is_bot(&c.author) {
            return Ok(vec![]);
        }
        let Some(label) = parse(&command_text(c)) else {
            return Ok(vec![]);
        };
        let settings: MilestoneSettings = cx.settings()?;
        let item = &c.item.reference;
        if !is_maintainer(cx, &settings, c).await? {
            let text = refusal(item.forge, item.repo.owner(), &settings);
            return Ok(vec![Action::Comment {
                item: item.clone(),
                body: format_response(&c.author, &text, &c.body, &c.html_url, cx.help_url),
            }]);
        }
        let labels = cx.forge.labels(item).await?;
        Ok(decide(item, label, &labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Login;
    use crate::testing::{MemoryForge, comment_on_pr, pr_ref};
    use serde_json::json;

    #[test]
    fn parses_prow_statuses() {
        assert_eq!(parse("/status in-review"), Some("status/in-review"));
        assert_eq!(
            parse("/status approved-for-milestone "),
            Some("status/approved-for-milestone")
        );
        assert_eq!(
            parse("/status in-review\n/status in-progress"),
            Some("status/in-progress")
        );
        assert_eq!(parse("/status done"), None);
        assert_eq!(parse("/STATUS in-review"), None);
        assert_eq!(parse("/status"), None);
    }

    #[tokio::test]
    async fn sets_one_status_and_removes_the_others() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.admins.insert(Login::new("admin"));
        });
        forge.set_labels(&["status/in-progress", "kind/bug"]);
        let actions = forge
            .run(
                &MilestoneStatus,
                &comment_on_pr("admin", "/status in-review"),
            )
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![
                Action::AddLabel {
                    item: pr_ref(),
                    label: "status/in-review".into()
                },
                Action::RemoveLabel {
                    item: pr_ref(),
                    label: "status/in-progress".into()
                },
            ]
        );
        forge.set_labels(&["status/in-review"]);
        assert!(
            forge
                .run(
                    &MilestoneStatus,
                    &comment_on_pr("admin", "/status in-review")
                )
                .await
                .expect("handled")
                .is_empty()
        );
    }

    #[test]
    fn settings_belong_to_milestone() {
        assert!(MilestoneStatus.check_settings(&json!({})).is_ok());
        let e = MilestoneStatus
            .check_settings(&json!({ "maintainers_team": "t" }))
            .expect_err("refused");
        assert!(e.contains("[settings.milestone]"), "{e}");
    }

    #[tokio::test]
    async fn only_maintainers_may() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.teams
                .insert("leads".into(), [Login::new("lead")].into_iter().collect());
        });
        let settings = json!({ "maintainers_team": "leads" });
        let lead = forge
            .run_with(
                &MilestoneStatus,
                &comment_on_pr("lead", "/status in-progress"),
                &settings,
            )
            .await
            .expect("handled");
        assert!(
            matches!(&lead[..], [Action::AddLabel { label, .. }] if label == "status/in-progress")
        );
        let other = forge
            .run_with(
                &MilestoneStatus,
                &comment_on_pr("someone", "/status in-progress"),
                &settings,
            )
            .await
            .expect("handled");
        assert!(
            matches!(&other[..], [Action::Comment { body, .. }] if body.contains(
                "@someone: You must be a member of the [org/leads](https://github.com/orgs/org/teams/leads/members) GitHub team to add status labels. If you believe you should be able to issue the /status command, please contact your SIG Chairs/TLs"
            ))
        );
    }
}
