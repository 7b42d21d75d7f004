//! `milestone`: `/milestone <title>` puts an issue or PR in the repository's milestone of that
//! exact title, `/milestone clear` takes it out (Prow §3.16). Only the milestone maintainers
//! may: the members of `maintainers_team` when it is configured (GitHub: the org's team slug;
//! GitLab: the subgroup of that name), otherwise the repository's admins (GitLab: Maintainers
//! and Owners). Others get Prow's refusal; an unknown title gets Prow's list of the existing
//! milestones. No labels are touched.
//!
//! Differences from Prow: without `maintainers_team` Prow lets nobody (its team lookup fails),
//! bosun lets repository admins, with a refusal that names them instead of a team. Prow's
//! deprecated numeric `maintainers_id` is not offered (`bosun import-prow` says so). Quoted or
//! code-block commands do nothing, and an edited comment acts on its newly added lines.

use crate::command::{GO_SPACE, command_text};
use crate::reply::format_response;
use crate::{
    Action, CommandHelp, CommentAction, CommentEvent, Context, Event, ForgeKind, Plugin,
    PluginError, PluginHelp,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

static MILESTONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?m)^/milestone{GO_SPACE}+(.+?){GO_SPACE}*$")).expect("static regex")
});

/// Who is named in refusals when `maintainers_friendly_name` is not configured, as in Prow.
pub const DEFAULT_FRIENDLY_NAME: &str = "SIG Chairs/TLs";

/// `[settings.milestone."org"]` or `."org/repo"`; `milestonestatus` reads the same settings,
/// so one team decides both the milestone and the status labels, as Prow's `repo_milestone`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MilestoneSettings {
    /// The team whose members may set milestones and status labels: a team slug of the
    /// repository's org (GitHub) or a subgroup of its group (GitLab). Default: none, and the
    /// repository's admins (GitLab: Maintainers and Owners) may.
    pub maintainers_team: Option<String>,
    /// Whom refusals tell people to ask (default `SIG Chairs/TLs`, as Prow).
    pub maintainers_friendly_name: Option<String>,
}

impl MilestoneSettings {
    /// Whom refusals tell people to ask.
    pub fn friendly_name(&self) -> &str {
        self.maintainers_friendly_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(DEFAULT_FRIENDLY_NAME)
    }

    fn team(&self) -> Option<&str> {
        self.maintainers_team
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

/// Whether the commenter is a milestone maintainer; shared with `milestonestatus`.
pub async fn is_maintainer(
    cx: &Context<'_>,
    settings: &MilestoneSettings,
    c: &CommentEvent,
) -> Result<bool, PluginError> {
    let repo = &c.item.reference.repo;
    Ok(match settings.team() {
        Some(team) => {
            cx.forge
                .is_team_member(repo.owner(), team, &c.author)
                .await?
        }
        None => cx.forge.is_repo_admin(repo, &c.author).await?,
    })
}

/// How a refusal names the maintainers: Prow's link to the team's member list on GitHub, the
/// subgroup on GitLab, or the repository's admins when no team is configured.
pub fn maintainers_phrase(forge: ForgeKind, org: &str, settings: &MilestoneSettings) -> String {
    match (settings.team(), forge) {
        (Some(team), ForgeKind::GitHub) => format!(
            "a member of the [{org}/{team}](https://github.com/orgs/{org}/teams/{team}/members) GitHub team"
        ),
        (Some(team), ForgeKind::GitLab) => format!("a member of the `{org}/{team}` GitLab group"),
        (None, _) => "an admin of this repository".to_string(),
    }
}

/// Prow's refusal, worded for bosun's maintainers.
pub fn refusal(forge: ForgeKind, org: &str, settings: &MilestoneSettings) -> String {
    format!(
        "You must be {} to set the milestone. If you believe you should be able to issue the /milestone command, please contact your {} and have them propose you as an additional delegate for this responsibility.",
        maintainers_phrase(forge, org, settings),
        settings.friendly_name()
    )
}

/// Prow's answer to a title the repository has no milestone of.
pub fn unknown_reply(titles: &[String]) -> String {
    let list = titles
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "The provided milestone is not valid for this repository. Milestones in this repository: [{list}]\n\nUse `/milestone clear` to clear the milestone."
    )
}

/// What a comment asks of the milestone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MilestoneCommand {
    /// Put the item in the milestone of this exact title.
    Set(String),
    /// Take the item out of its milestone.
    Clear,
}

/// The first `/milestone` line (case-sensitive, as Prow).
pub fn parse(text: &str) -> Option<MilestoneCommand> {
    let title = MILESTONE.captures(text)?.get(1)?.as_str().trim();
    Some(if title == "clear" {
        MilestoneCommand::Clear
    } else {
        MilestoneCommand::Set(title.to_string())
    })
}

/// Clears, sets a known milestone, or answers with the known ones.
pub fn decide(
    cmd: &MilestoneCommand,
    item: &crate::ItemRef,
    milestones: &[crate::Milestone],
) -> Result<Action, String> {
    match cmd {
        MilestoneCommand::Clear => Ok(Action::SetMilestone {
            item: item.clone(),
            milestone: None,
        }),
        MilestoneCommand::Set(title) => match milestones.iter().find(|m| m.title == *title) {
            Some(m) => Ok(Action::SetMilestone {
                item: item.clone(),
                milestone: Some(m.clone()),
            }),
            None => {
                let titles: Vec<String> = milestones.iter().map(|m| m.title.clone()).collect();
                Err(unknown_reply(&titles))
            }
        },
    }
}

/// The milestone plugin.
pub struct Milestone;

#[async_trait]
impl Plugin for Milestone {
    fn name(&self) -> &'static str {
        "milestone"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Sets or clears the milestone of an issue or pull request.",
            commands: vec![CommandHelp {
                usage: "/milestone <version> or /milestone clear",
                description: "Updates the milestone for an issue or PR; the title must be one of the repository's milestones.",
                examples: vec!["/milestone v1.10", "/milestone clear"],
                who_can_use: "Members of the configured milestone maintainers team (`maintainers_team`); without one, repository admins.",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<MilestoneSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        if matches!(c.action, CommentAction::Deleted) || cx.is_bot(&c.author) {
            return Ok(vec![]);
        }
        let Some(cmd) = parse(&command_text(c)) else {
            return Ok(vec![]);
        };
        let settings: MilestoneSettings = cx.settings()?;
        let item = &c.item.reference;
        let reply = |text: &str| Action::Comment {
            item: item.clone(),
            body: format_response(&c.author, text, &c.body, &c.html_url, cx.help_url),
        };
        if !is_maintainer(cx, &settings, c).await? {
            return Ok(vec![reply(&refusal(
                item.forge,
                item.repo.owner(),
                &settings,
            ))]);
        }
        let milestones = match cmd {
            MilestoneCommand::Clear => vec![],
            MilestoneCommand::Set(_) => cx.forge.milestones(&item.repo).await?,
        };
        Ok(match decide(&cmd, item, &milestones) {
            Ok(action) => vec![action],
            Err(text) => vec![reply(&text)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr, pr_ref};
    use crate::{Forge, Login};
    use serde_json::json;

    fn v12() -> crate::Milestone {
        crate::Milestone {
            id: 7,
            title: "v1.2".into(),
        }
    }

    fn forge() -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.milestones = vec![
                crate::Milestone {
                    id: 3,
                    title: "v1.1".into(),
                },
                v12(),
            ];
            s.admins.insert(Login::new("admin"));
            s.teams.insert(
                "release-team".into(),
                [Login::new("lead")].into_iter().collect(),
            );
        });
        forge
    }

    fn replied(actions: &[Action], text: &str) -> bool {
        matches!(actions, [Action::Comment { body, .. }] if body.contains(text))
    }

    #[test]
    fn parses_like_prow() {
        assert_eq!(
            parse("/milestone v1.2"),
            Some(MilestoneCommand::Set("v1.2".into()))
        );
        assert_eq!(
            parse("hi\n/milestone   v1.2 beta  \nbye"),
            Some(MilestoneCommand::Set("v1.2 beta".into()))
        );
        assert_eq!(parse("/milestone clear"), Some(MilestoneCommand::Clear));
        assert_eq!(parse("/milestone"), None);
        assert_eq!(parse("/MILESTONE v1.2"), None);
        assert_eq!(parse("please /milestone v1.2"), None);
    }

    #[tokio::test]
    async fn admins_set_and_clear_by_title() {
        let forge = forge();
        let actions = forge
            .run(&Milestone, &comment_on_pr("admin", "/milestone v1.2"))
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![Action::SetMilestone {
                item: pr_ref(),
                milestone: Some(v12())
            }]
        );
        forge.set_milestone(&pr_ref(), Some(7)).await.expect("set");
        assert_eq!(forge.snapshot().pr.milestone.as_deref(), Some("v1.2"));
        let actions = forge
            .run(&Milestone, &comment_on_pr("admin", "/milestone clear"))
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![Action::SetMilestone {
                item: pr_ref(),
                milestone: None
            }]
        );
    }

    #[tokio::test]
    async fn unknown_title_lists_the_milestones() {
        let actions = forge()
            .run(&Milestone, &comment_on_pr("admin", "/milestone v9"))
            .await
            .expect("handled");
        assert!(replied(
            &actions,
            "@admin: The provided milestone is not valid for this repository. Milestones in this repository: [`v1.1`, `v1.2`]\n\nUse `/milestone clear` to clear the milestone."
        ));
    }

    #[tokio::test]
    async fn only_the_team_may_when_one_is_configured() {
        let forge = forge();
        let settings = json!({ "maintainers_team": "release-team" });
        let lead = forge
            .run_with(
                &Milestone,
                &comment_on_pr("lead", "/milestone v1.1"),
                &settings,
            )
            .await
            .expect("handled");
        assert!(
            matches!(&lead[..], [Action::SetMilestone { milestone: Some(m), .. }] if m.id == 3)
        );
        let admin = forge
            .run_with(
                &Milestone,
                &comment_on_pr("admin", "/milestone v1.1"),
                &settings,
            )
            .await
            .expect("handled");
        assert!(replied(
            &admin,
            "@admin: You must be a member of the [org/release-team](https://github.com/orgs/org/teams/release-team/members) GitHub team to set the milestone. If you believe you should be able to issue the /milestone command, please contact your SIG Chairs/TLs and have them propose you as an additional delegate for this responsibility."
        ));
    }

    #[tokio::test]
    async fn others_are_refused_without_a_team() {
        let settings = json!({ "maintainers_friendly_name": "release managers" });
        let actions = forge()
            .run_with(
                &Milestone,
                &comment_on_pr("stranger", "/milestone clear"),
                &settings,
            )
            .await
            .expect("handled");
        assert!(replied(
            &actions,
            "You must be an admin of this repository to set the milestone. If you believe you should be able to issue the /milestone command, please contact your release managers"
        ));
    }

    #[test]
    fn settings_are_checked() {
        assert!(
            Milestone
                .check_settings(&json!({ "maintainers_team": "t" }))
                .is_ok()
        );
        assert!(
            Milestone
                .check_settings(&json!({ "maintainers_id": 1 }))
                .is_err()
        );
    }
}
