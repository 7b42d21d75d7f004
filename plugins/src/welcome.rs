//! `welcome`: a first-time contributor's first PR/MR in a repository gets a welcome comment
//! (Prow §3.12). "First" means the forge knows no other PR of theirs in the repository
//! (GitHub's issue search `is:pr repo:… author:…`, GitLab's MR list by author). Trusted
//! authors (org members and collaborators, as the trigger plugin counts them) are not welcomed
//! unless `always_post`; bots never are.
//!
//! `message_template` takes `{author}`, `{org}` and `{repo}`; the default is Prow's
//! `Welcome @{author}! It looks like this is your first PR to {org}/{repo} 🎉`.

use crate::trigger::{TriggerSettings, trusted};
use crate::{
    Action, CommandHelp, Context, Event, ForgeKind, Plugin, PluginError, PluginHelp, PrAction,
};
use async_trait::async_trait;
use serde::Deserialize;

/// Prow's default welcome.
pub const DEFAULT_TEMPLATE: &str =
    "Welcome @{author}! It looks like this is your first PR to {org}/{repo} 🎉";

/// `[settings.welcome."org"]`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WelcomeSettings {
    /// The comment; `{author}`, `{org}` and `{repo}` are filled in.
    pub message_template: Option<String>,
    /// Welcome trusted authors' first PRs too.
    pub always_post: bool,
}

/// Fills the template's placeholders.
pub fn message(template: &str, author: &str, org: &str, repo: &str) -> String {
    template
        .replace("{author}", author)
        .replace("{org}", org)
        .replace("{repo}", repo)
}

/// The welcome plugin.
pub struct Welcome;

#[async_trait]
impl Plugin for Welcome {
    fn name(&self) -> &'static str {
        "welcome"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Welcomes a first-time contributor's first pull request in a repository with a configurable message.",
            commands: vec![CommandHelp {
                usage: "(no command)",
                description: "Comments the welcome message on a first pull request.",
                examples: vec![],
                who_can_use: "—",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<WelcomeSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::PullRequest(p) = event else {
            return Ok(vec![]);
        };
        if p.action != PrAction::Opened || cx.is_bot(&p.pr.author) {
            return Ok(vec![]);
        }
        let settings: WelcomeSettings = cx.settings()?;
        let item = &p.pr.reference;
        if !settings.always_post
            && trusted(cx, &TriggerSettings::default(), &item.repo, &p.pr.author).await?
        {
            return Ok(vec![]);
        }
        let theirs = cx
            .forge
            .pull_requests_by(&item.repo, &p.pr.author, 2)
            .await?;
        if theirs.iter().any(|n| *n != item.number) {
            return Ok(vec![]);
        }
        let template = settings
            .message_template
            .as_deref()
            .unwrap_or(DEFAULT_TEMPLATE);
        Ok(vec![Action::Comment {
            item: item.clone(),
            body: message(
                template,
                p.pr.author.as_str(),
                item.repo.owner(),
                item.repo.name(),
            ),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, pr_event};

    fn body(actions: &[Action]) -> Option<&str> {
        actions.iter().find_map(|a| match a {
            Action::Comment { body, .. } => Some(body.as_str()),
            _ => None,
        })
    }

    #[tokio::test]
    async fn a_first_pr_is_welcomed_in_prows_words() {
        let forge = MemoryForge::default();
        let actions = forge
            .run(&Welcome, &pr_event(PrAction::Opened))
            .await
            .expect("handled");
        assert_eq!(
            body(&actions),
            Some("Welcome @pr-author! It looks like this is your first PR to org/repo 🎉")
        );
    }

    #[tokio::test]
    async fn a_second_pr_or_a_trusted_author_is_not_unless_always_post() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.earlier_prs.insert("pr-author".into(), vec![7]);
        });
        let opened = pr_event(PrAction::Opened);
        assert!(forge.run(&Welcome, &opened).await.expect("ok").is_empty());
        forge.with(|s| s.earlier_prs.clear());
        forge.add_collaborators(&["pr-author"]);
        assert!(forge.run(&Welcome, &opened).await.expect("ok").is_empty());
        let always = serde_json::json!({
            "always_post": true,
            "message_template": "Hi {author}, thanks for {repo}!"
        });
        let actions = forge
            .run_with(&Welcome, &opened, &always)
            .await
            .expect("handled");
        assert_eq!(body(&actions), Some("Hi pr-author, thanks for repo!"));
        assert!(
            forge
                .run(&Welcome, &pr_event(PrAction::Reopened))
                .await
                .expect("ok")
                .is_empty()
        );
    }
}
