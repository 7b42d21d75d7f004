//! `notify`: tells chat groups what needs them. Routes in the plugin's settings say which
//! events of which repositories go to which channel (channels themselves — DingTalk, Slack,
//! Feishu, WeCom robots — are configured centrally under `[chat.channels.<name>]`), in Chinese
//! or English. The messages are [`Action::Notify`] effects: journaled, sent once, rate-limited
//! and coalesced into a digest per channel by the service. No commands.
//!
//! Events: `opened` (a PR opened for review, not as a draft), `ready_for_review`, `lgtm` and
//! `approved` (the label added), `merged`, `closed` (without merging), `reopened`.
//!
//! Not in Prow (Prow's Slack reporter posts job results only).

use crate::{
    Action, ChatMessage, Context, Event, Login, Plugin, PluginError, PluginHelp, PrAction,
    PullRequestEvent, RepoPath,
};
use async_trait::async_trait;
use serde::Deserialize;

/// `[settings.notify."org"]` (or `"org/repo"`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Where events go; an event matching several routes goes to each of their channels once.
    pub routes: Vec<Route>,
}

/// One routing rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The channel's name under `[chat.channels]`.
    pub channel: String,
    /// The event kinds to send (see the module docs); empty means every kind.
    #[serde(default)]
    pub events: Vec<EventKind>,
    /// Repository globs (`org/web-*`) within the settings' scope; empty means all.
    #[serde(default)]
    pub repos: Vec<String>,
    /// `en` (default) or `zh`.
    #[serde(default)]
    pub language: Language,
}

/// The events a route can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    ReadyForReview,
    Lgtm,
    Approved,
    Merged,
    Closed,
    Reopened,
}

/// A message's language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    En,
    Zh,
}

/// The kind of a pull-request event, if routes can ask for it.
pub fn kind_of(pr: &PullRequestEvent) -> Option<EventKind> {
    Some(match &pr.action {
        PrAction::Opened if !pr.pr.draft => EventKind::Opened,
        PrAction::ReadyForReview => EventKind::ReadyForReview,
        PrAction::Labeled { label } if label == crate::lgtm::LABEL => EventKind::Lgtm,
        PrAction::Labeled { label } if label == crate::approve::LABEL => EventKind::Approved,
        PrAction::Merged => EventKind::Merged,
        PrAction::Closed => EventKind::Closed,
        PrAction::Reopened => EventKind::Reopened,
        _ => return None,
    })
}

/// The message for one event in one language.
pub fn message(pr: &PullRequestEvent, kind: EventKind, language: Language) -> ChatMessage {
    let item = &pr.pr;
    let what = item.reference.to_string();
    let author = &item.author;
    let (title, line, mentions): (String, String, Vec<Login>) = match (language, kind) {
        (Language::En, EventKind::Opened) => (
            format!("{what} opened for review"),
            format!(
                "**{author}** opened [{what}]({}): {}",
                item.html_url, item.title
            ),
            item.assignees.clone(),
        ),
        (Language::Zh, EventKind::Opened) => (
            format!("{what} 等待评审"),
            format!(
                "**{author}** 提交了 [{what}]({})：{}",
                item.html_url, item.title
            ),
            item.assignees.clone(),
        ),
        (Language::En, EventKind::ReadyForReview) => (
            format!("{what} is ready for review"),
            format!(
                "[{what}]({}) is ready for review: {}",
                item.html_url, item.title
            ),
            item.assignees.clone(),
        ),
        (Language::Zh, EventKind::ReadyForReview) => (
            format!("{what} 可以评审了"),
            format!("[{what}]({}) 可以评审了：{}", item.html_url, item.title),
            item.assignees.clone(),
        ),
        (Language::En, EventKind::Lgtm) => (
            format!("{what} got LGTM"),
            format!(
                "[{what}]({}) got `lgtm` from **{}**: {}",
                item.html_url, pr.sender, item.title
            ),
            vec![author.clone()],
        ),
        (Language::Zh, EventKind::Lgtm) => (
            format!("{what} 已 LGTM"),
            format!(
                "**{}** 给 [{what}]({}) 加了 `lgtm`：{}",
                pr.sender, item.html_url, item.title
            ),
            vec![author.clone()],
        ),
        (Language::En, EventKind::Approved) => (
            format!("{what} approved"),
            format!("[{what}]({}) is approved: {}", item.html_url, item.title),
            vec![author.clone()],
        ),
        (Language::Zh, EventKind::Approved) => (
            format!("{what} 已批准"),
            format!("[{what}]({}) 已批准：{}", item.html_url, item.title),
            vec![author.clone()],
        ),
        (Language::En, EventKind::Merged) => (
            format!("{what} merged"),
            format!(
                "[{what}]({}) was merged into `{}`: {}",
                item.html_url, pr.base_ref, item.title
            ),
            vec![author.clone()],
        ),
        (Language::Zh, EventKind::Merged) => (
            format!("{what} 已合并"),
            format!(
                "[{what}]({}) 已合并到 `{}`：{}",
                item.html_url, pr.base_ref, item.title
            ),
            vec![author.clone()],
        ),
        (Language::En, EventKind::Closed) => (
            format!("{what} closed"),
            format!(
                "[{what}]({}) was closed without merging: {}",
                item.html_url, item.title
            ),
            vec![],
        ),
        (Language::Zh, EventKind::Closed) => (
            format!("{what} 已关闭"),
            format!("[{what}]({}) 未合并即关闭：{}", item.html_url, item.title),
            vec![],
        ),
        (Language::En, EventKind::Reopened) => (
            format!("{what} reopened"),
            format!("[{what}]({}) was reopened: {}", item.html_url, item.title),
            vec![],
        ),
        (Language::Zh, EventKind::Reopened) => (
            format!("{what} 已重新打开"),
            format!("[{what}]({}) 已重新打开：{}", item.html_url, item.title),
            vec![],
        ),
    };
    ChatMessage {
        title,
        text: line,
        link: Some(item.html_url.clone()).filter(|u| !u.is_empty()),
        mentions,
    }
}

fn route_matches(route: &Route, repo: &RepoPath, kind: EventKind) -> bool {
    let repo_ok = route.repos.is_empty()
        || route.repos.iter().any(|g| {
            globset::Glob::new(g)
                .map(|g| g.compile_matcher().is_match(repo.as_str()))
                .unwrap_or(false)
        });
    repo_ok && (route.events.is_empty() || route.events.contains(&kind))
}

/// The notices for one event: one per channel whose route matches.
pub fn decide(pr: &PullRequestEvent, settings: &NotifySettings) -> Vec<Action> {
    let Some(kind) = kind_of(pr) else {
        return vec![];
    };
    let mut channels: Vec<&str> = Vec::new();
    let mut actions = Vec::new();
    for route in &settings.routes {
        if channels.contains(&route.channel.as_str())
            || !route_matches(route, &pr.pr.reference.repo, kind)
        {
            continue;
        }
        channels.push(&route.channel);
        actions.push(Action::Notify {
            channel: route.channel.clone(),
            message: message(pr, kind, route.language),
        });
    }
    actions
}

/// The notify plugin.
pub struct Notify;

#[async_trait]
impl Plugin for Notify {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Tells chat groups (DingTalk, Slack, Feishu, WeCom) when a pull request is opened or ready for review, gets lgtm or approved, is merged, closed or reopened, as routed in the settings.",
            commands: vec![],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        let parsed: NotifySettings =
            serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?;
        for route in &parsed.routes {
            for glob in &route.repos {
                globset::Glob::new(glob).map_err(|e| format!("repos {glob:?}: {e}"))?;
            }
        }
        Ok(())
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::PullRequest(pr) = event else {
            return Ok(vec![]);
        };
        let settings: NotifySettings = cx.settings()?;
        Ok(decide(pr, &settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryForge;
    use crate::{ForgeKind, Item, ItemKind, ItemRef, ItemState};

    fn pr_event(action: PrAction) -> Event {
        Event::PullRequest(PullRequestEvent {
            pr: Item {
                reference: ItemRef {
                    forge: ForgeKind::GitLab,
                    repo: RepoPath::parse("grp/proj").expect("repo"),
                    number: 12,
                    kind: ItemKind::PullRequest,
                },
                author: Login::new("mr-author"),
                state: ItemState::Open,
                title: "Fix the build".into(),
                labels: vec![],
                assignees: vec![Login::new("alice")],
                draft: false,
                html_url: "https://gitlab.example.com/grp/proj/-/merge_requests/12".into(),
            },
            action,
            sender: Login::new("bob"),
            head_sha: "abc".into(),
            base_sha: None,
            head_ref: "fix".into(),
            base_ref: "main".into(),
        })
    }

    #[tokio::test]
    async fn routes_pick_channels_events_and_language() {
        let forge = MemoryForge::default();
        let s = serde_json::json!({"routes": [
            {"channel": "team", "events": ["opened", "merged"], "language": "zh"},
            {"channel": "team", "events": ["opened"]},
            {"channel": "leads", "events": ["approved"], "repos": ["grp/*"]},
            {"channel": "other", "repos": ["elsewhere/*"]}
        ]});
        let opened = forge
            .run_with(&Notify, &pr_event(PrAction::Opened), &s)
            .await
            .expect("handled");
        assert_eq!(opened.len(), 1, "one message per channel: {opened:?}");
        let Action::Notify { channel, message } = &opened[0] else {
            panic!("{opened:?}")
        };
        assert_eq!(channel, "team");
        assert_eq!(message.title, "grp/proj!12 等待评审");
        assert!(message.text.contains("**mr-author** 提交了 [grp/proj!12](https://gitlab.example.com/grp/proj/-/merge_requests/12)：Fix the build"), "{}", message.text);
        assert_eq!(message.mentions, vec![Login::new("alice")]);

        let approved = forge
            .run_with(
                &Notify,
                &pr_event(PrAction::Labeled {
                    label: "approved".into(),
                }),
                &s,
            )
            .await
            .expect("handled");
        let Action::Notify { channel, message } = &approved[0] else {
            panic!("{approved:?}")
        };
        assert_eq!((channel.as_str(), approved.len()), ("leads", 1));
        assert_eq!(message.title, "grp/proj!12 approved");
        assert_eq!(message.mentions, vec![Login::new("mr-author")]);

        let synced = forge
            .run_with(
                &Notify,
                &pr_event(PrAction::Synchronized { before: None }),
                &s,
            )
            .await
            .expect("handled");
        assert!(synced.is_empty(), "not an event routes can ask for");
    }

    #[tokio::test]
    async fn drafts_are_not_announced_and_settings_are_checked() {
        let forge = MemoryForge::default();
        let s = serde_json::json!({"routes": [{"channel": "team"}]});
        let Event::PullRequest(mut draft) = pr_event(PrAction::Opened) else {
            unreachable!()
        };
        draft.pr.draft = true;
        let actions = forge
            .run_with(&Notify, &Event::PullRequest(draft), &s)
            .await
            .expect("handled");
        assert!(actions.is_empty());
        assert!(
            Notify
                .check_settings(
                    &serde_json::json!({"routes": [{"channel": "t", "events": ["pushed"]}]})
                )
                .is_err()
        );
        assert!(
            Notify
                .check_settings(
                    &serde_json::json!({"routes": [{"channel": "t", "repos": ["a/["]}]})
                )
                .is_err()
        );
        assert!(Notify.check_settings(&s).is_ok());
    }
}
