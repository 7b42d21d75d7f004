//! `override`: `/override <context> ["context with spaces"] …` marks failing or missing CI
//! contexts on a PR's head as passed, with a commit status `success` described as
//! `Overridden by <user>` (Prow §3.18). Only repository admins (GitHub: `admin` permission;
//! GitLab: Maintainer or Owner), members of `allowed_teams` and `allowed_users` may; others
//! get Prow's refusal. Contexts bosun has not seen fail are named back with the failed ones.
//!
//! Differences from Prow: a GitHub check run is overridden by a commit status of the same
//! name (Prow creates a check run, which needs a GitHub App); `/override-sticky` and
//! `/override-cancel` are not offered.

use crate::command::command_text;
use crate::reply::format_response;
use crate::{
    Action, CiContext, CommandHelp, CommentAction, CommentEvent, CommitStatus, Context, Event,
    ForgeKind, ItemState, Plugin, PluginError, PluginHelp, StatusState,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

static OVERRIDE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?mi)^/override( ([^\r\n]+))?[\r\n]?$").expect("static regex"));

/// `[settings.override."org"]`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OverrideSettings {
    /// Users who may override besides repository admins.
    pub allowed_users: Vec<String>,
    /// Teams (`org/team`) whose members may override (Prow's `allowed_github_teams`).
    pub allowed_teams: Vec<String>,
}

/// The contexts named on every `/override` line: words, or "double quoted" names with
/// spaces. `None` when the comment has no `/override` line.
pub fn parse(text: &str) -> Option<Vec<String>> {
    let mut found = false;
    let mut names = Vec::new();
    for caps in OVERRIDE.captures_iter(text) {
        found = true;
        let args = caps.get(2).map_or("", |m| m.as_str());
        let mut rest = args.trim();
        while !rest.is_empty() {
            let (name, after) = match rest.strip_prefix('"') {
                Some(quoted) => match quoted.split_once('"') {
                    Some((name, after)) => (name, after),
                    None => (quoted, ""),
                },
                None => rest.split_once(char::is_whitespace).unwrap_or((rest, "")),
            };
            let name = name.trim();
            if !name.is_empty() && !names.iter().any(|n: &String| n == name) {
                names.push(name.to_string());
            }
            rest = after.trim_start();
        }
    }
    found.then_some(names)
}

fn bullets(names: &[&str]) -> String {
    if names.is_empty() {
        return "- (none)".into();
    }
    names
        .iter()
        .map(|n| format!("- {n}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The override plugin.
pub struct Override;

impl Override {
    async fn allowed(
        &self,
        c: &CommentEvent,
        cx: &Context<'_>,
        settings: &OverrideSettings,
    ) -> Result<bool, PluginError> {
        let repo = &c.item.reference.repo;
        if settings.allowed_users.iter().any(|u| {
            u.trim_start_matches('@')
                .eq_ignore_ascii_case(c.author.as_str())
        }) {
            return Ok(true);
        }
        for team in &settings.allowed_teams {
            let (org, slug) = team.split_once('/').unwrap_or((repo.owner(), team));
            if cx.forge.is_team_member(org, slug, &c.author).await? {
                return Ok(true);
            }
        }
        Ok(cx.forge.is_repo_admin(repo, &c.author).await?)
    }

    fn refusal(&self, c: &CommentEvent, settings: &OverrideSettings) -> String {
        let mut who = "Repo administrators".to_string();
        if !settings.allowed_users.is_empty() {
            who.push_str(&format!(
                ", the following users: {}",
                settings.allowed_users.join(", ")
            ));
        }
        if !settings.allowed_teams.is_empty() {
            let kind = match c.item.reference.forge {
                ForgeKind::GitHub => "github teams",
                ForgeKind::GitLab => "gitlab groups",
            };
            who.push_str(&format!(
                ", and the following {kind}: {}",
                settings.allowed_teams.join(", ")
            ));
        }
        format!(
            "{} unauthorized: /override is restricted to {who}.",
            c.author
        )
    }

    async fn on_comment(
        &self,
        c: &CommentEvent,
        cx: &Context<'_>,
        settings: &OverrideSettings,
    ) -> Result<Vec<Action>, PluginError> {
        if !c.item.is_pr() || c.item.state != ItemState::Open || c.action != CommentAction::Created
        {
            return Ok(vec![]);
        }
        let Some(names) = parse(&command_text(c)) else {
            return Ok(vec![]);
        };
        let item = &c.item.reference;
        let reply = |text: &str| Action::Comment {
            item: item.clone(),
            body: format_response(&c.author, text, &c.body, &c.html_url, cx.help_url),
        };
        if !self.allowed(c, cx, settings).await? {
            return Ok(vec![reply(&self.refusal(c, settings))]);
        }
        if names.is_empty() {
            return Ok(vec![reply(
                "/override requires failed status contexts to operate on, but none was given",
            )]);
        }
        let pr = cx.forge.pull_request(item).await?;
        let mut contexts = cx
            .history
            .ci_contexts(item.forge, &item.repo, &pr.head_sha)
            .await;
        if contexts.is_empty() {
            contexts = cx.forge.ci_contexts(item, &pr.head_sha).await?;
        }
        let failed: Vec<&CiContext> = contexts
            .iter()
            .filter(|ctx| ctx.state != crate::CiState::Success)
            .collect();
        let unknown: Vec<&str> = names
            .iter()
            .filter(|n| !failed.iter().any(|f| f.context == **n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let failed_names: Vec<&str> = failed.iter().map(|f| f.context.as_str()).collect();
            return Ok(vec![reply(&format!(
                "/override requires failed status contexts to operate on.\nThe following unknown contexts were given:\n{}\n\nOnly the following failed contexts were expected:\n{}\n\nIf you are trying to override a context that has a space in it, you must put a double quote on the context.",
                bullets(&unknown),
                bullets(&failed_names)
            ))]);
        }
        let mut actions: Vec<Action> = names
            .iter()
            .map(|name| Action::SetStatus {
                forge: item.forge,
                repo: item.repo.clone(),
                sha: pr.head_sha.clone(),
                status: CommitStatus {
                    state: StatusState::Success,
                    context: name.clone(),
                    description: format!("Overridden by {}", c.author),
                    target_url: None,
                },
            })
            .collect();
        actions.push(reply(&format!(
            "Overrode contexts on behalf of {}: {}",
            c.author,
            names.join(", ")
        )));
        Ok(actions)
    }
}

#[async_trait]
impl Plugin for Override {
    fn name(&self) -> &'static str {
        "override"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Marks failing or missing CI contexts on a pull request's head as passed, for when CI is wrong and people know better.",
            commands: vec![CommandHelp {
                usage: "/override <context> [\"context with spaces\"] …",
                description: "Sets each named failing context to success, described as overridden by you.",
                examples: vec!["/override ci/unit", "/override \"build (linux)\" lint"],
                who_can_use: "Repository admins (GitLab: Maintainers), and the configured users and teams",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<OverrideSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        let settings: OverrideSettings = cx.settings()?;
        self.on_comment(c, cx, &settings).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr};
    use crate::{CiState, CiSystem, Login};

    fn failing(name: &str) -> CiContext {
        CiContext {
            context: name.into(),
            system: CiSystem::GithubStatus,
            state: CiState::Failure,
            url: None,
            run_id: None,
        }
    }

    fn reply(actions: &[Action]) -> &str {
        actions
            .iter()
            .find_map(|a| match a {
                Action::Comment { body, .. } => Some(body.as_str()),
                _ => None,
            })
            .expect("a reply")
    }

    #[test]
    fn parses_words_and_quoted_names() {
        assert_eq!(parse("/override ci/unit"), Some(vec!["ci/unit".into()]));
        assert_eq!(
            parse("/override \"build (linux)\" lint\n/override lint"),
            Some(vec!["build (linux)".into(), "lint".into()])
        );
        assert_eq!(parse("/override"), Some(vec![]));
        assert_eq!(parse("please /override x"), None);
        assert_eq!(parse("/overrides x"), None);
    }

    #[tokio::test]
    async fn an_admin_overrides_a_failing_context() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.admins.insert(Login::new("boss"));
            s.ci = vec![failing("ci/foo")];
        });
        let actions = forge
            .run(&Override, &comment_on_pr("boss", "/override ci/foo"))
            .await
            .expect("handled");
        assert!(actions.iter().any(|a| matches!(a,
            Action::SetStatus { sha, status, .. }
                if sha == "head0" && status.context == "ci/foo"
                    && status.state == StatusState::Success
                    && status.description == "Overridden by boss")));
        assert!(reply(&actions).contains("Overrode contexts on behalf of boss: ci/foo"));
    }

    #[tokio::test]
    async fn others_are_refused_in_prows_words() {
        let forge = MemoryForge::default();
        forge.with(|s| s.ci = vec![failing("ci/foo")]);
        let actions = forge
            .run(&Override, &comment_on_pr("mallory", "/override ci/foo"))
            .await
            .expect("handled");
        assert_eq!(actions.len(), 1, "only the refusal: {actions:?}");
        assert!(
            reply(&actions)
                .contains("mallory unauthorized: /override is restricted to Repo administrators.")
        );
    }

    #[tokio::test]
    async fn configured_users_may_and_unknown_contexts_are_named() {
        let forge = MemoryForge::default();
        forge.with(|s| s.ci = vec![failing("ci/foo")]);
        let settings = serde_json::json!({ "allowed_users": ["release-bot"] });
        let actions = forge
            .run_with(
                &Override,
                &comment_on_pr("release-bot", "/override ci/bar"),
                &settings,
            )
            .await
            .expect("handled");
        assert_eq!(actions.len(), 1);
        let text = reply(&actions);
        assert!(
            text.contains("unknown contexts were given:\n- ci/bar"),
            "{text}"
        );
        assert!(
            text.contains("failed contexts were expected:\n- ci/foo"),
            "{text}"
        );
        let none = forge
            .run_with(
                &Override,
                &comment_on_pr("release-bot", "/override"),
                &settings,
            )
            .await
            .expect("handled");
        assert!(reply(&none).contains("but none was given"));
    }

    #[tokio::test]
    async fn reads_the_forge_when_bosun_heard_nothing() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.admins.insert(Login::new("boss"));
            s.forge_ci = vec![failing("ci/foo")];
        });
        let actions = forge
            .run(&Override, &comment_on_pr("boss", "/override ci/foo"))
            .await
            .expect("handled");
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::SetStatus { .. }))
        );
    }
}
