//! `sigmention`: a comment, or the description of a newly opened issue or PR, that mentions a
//! SIG team such as `@kubernetes/sig-testing-bugs` gets the team's `sig/<name>` label, and a
//! `kind/…` label for the kinds of team Prow knows: `bugs` → `kind/bug`, `feature-requests`
//! → `kind/feature`, `api-reviews` → `kind/api-change`, `proposals` → `kind/design` (Prow's
//! `sigmention`). The `sig/<name>` label is added only when the repository has it (compared
//! without case, spelled as the repository spells it); the `kind/…` label goes with it. Anyone's
//! text counts, bots' do not. On GitHub, when the writer is not a member of the repository's org
//! (whose team mentions GitHub does not notify), bosun repeats the mentions in a reply.
//!
//! `regexp` (setting) finds the mentions: capture group 1 is the SIG name, group 2 (optional)
//! the kind of team. The default, Prow's, is
//! `(?m)@kubernetes/sig-([\w-]*)-(misc|test-failures|bugs|feature-requests|proposals|pr-reviews|api-reviews)`.
//! On GitLab a group mention is `@group/subgroup`, so the default matches subgroups named
//! `sig-<name>-<kind>` of a group named `kubernetes`; other groups set their own `regexp`, e.g.
//! `(?m)@my-group/sig-([\w-]*)-(bugs|misc)`. GitLab notifies a group mention whoever writes
//! it, so there is no repeated mention there.
//!
//! Differences from Prow: none in what is labelled; the mentions are read from the whole text
//! (quotes and code included), as in Prow. An edited text is not read again, as in Prow.

use crate::reply::format_response;
use crate::{
    Action, CommentAction, CommentEvent, Context, Event, ForgeKind, ItemRef, Plugin, PluginError,
    PluginHelp,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;

/// Prow's default `sigmention.regexp`.
pub const DEFAULT_REGEXP: &str = r"(?m)@kubernetes/sig-([\w-]*)-(misc|test-failures|bugs|feature-requests|proposals|pr-reviews|api-reviews)";

/// `[settings.sigmention."org"]` or `."org/repo"`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigMentionSettings {
    /// The regular expression that finds team mentions: group 1 is the SIG name, group 2 (if
    /// any) the kind of team. Default: Prow's ([`DEFAULT_REGEXP`]).
    pub regexp: Option<String>,
}

impl SigMentionSettings {
    /// The compiled `regexp`; it must have a capture group for the SIG name.
    pub fn compile(&self) -> Result<Regex, String> {
        let text = self
            .regexp
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or(DEFAULT_REGEXP);
        let re = Regex::new(text).map_err(|e| format!("regexp {text:?}: {e}"))?;
        if re.captures_len() < 2 {
            return Err(format!(
                "regexp {text:?} needs a capture group for the SIG name"
            ));
        }
        Ok(re)
    }
}

/// The `kind/…` label Prow adds for a kind of team, if any.
pub fn kind_label(team_kind: &str) -> Option<&'static str> {
    match team_kind {
        "bugs" => Some("kind/bug"),
        "feature-requests" => Some("kind/feature"),
        "api-reviews" => Some("kind/api-change"),
        "proposals" => Some("kind/design"),
        _ => None,
    }
}

/// One team mention found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// The whole mention, as written (`@kubernetes/sig-testing-bugs`).
    pub text: String,
    /// The SIG name (`testing`).
    pub sig: String,
    /// The kind of team (`bugs`), when the regexp has a second group that matched.
    pub kind: Option<String>,
}

/// Every mention in `text`, in order.
pub fn parse(re: &Regex, text: &str) -> Vec<Mention> {
    re.captures_iter(text)
        .filter_map(|c| {
            Some(Mention {
                text: c.get(0)?.as_str().to_string(),
                sig: c.get(1)?.as_str().to_string(),
                kind: c.get(2).map(|k| k.as_str().to_string()),
            })
        })
        .collect()
}

/// The labels to add for the mentions, given the item's and the repository's labels, and the
/// mentions to repeat (those whose SIG label exists, as Prow).
pub fn decide(
    mentions: &[Mention],
    item_labels: &[String],
    repo_labels: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut add: Vec<String> = Vec::new();
    let mut repeat = Vec::new();
    let has = |labels: &[String], l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    for m in mentions {
        let wanted = format!("sig/{}", m.sig);
        let Some(sig) = repo_labels.iter().find(|l| l.eq_ignore_ascii_case(&wanted)) else {
            continue;
        };
        let kind = m.kind.as_deref().and_then(kind_label);
        for label in std::iter::once(sig.as_str()).chain(kind) {
            if !has(item_labels, label) && !has(&add, label) {
                add.push(label.to_string());
            }
        }
        repeat.push(m.text.clone());
    }
    (add, repeat)
}

/// Prow's reply repeating the mentions of a non-member.
pub fn repeat_reply(mentions: &[String]) -> String {
    format!(
        "Reiterating the mentions to trigger a notification: \n{}\n",
        mentions.join(", ")
    )
}

/// The sigmention plugin.
pub struct SigMention;

impl SigMention {
    async fn reply(
        &self,
        c: &CommentEvent,
        cx: &Context<'_>,
        repeat: &[String],
    ) -> Result<Option<Action>, PluginError> {
        let item: &ItemRef = &c.item.reference;
        if repeat.is_empty() || item.forge != ForgeKind::GitHub {
            return Ok(None);
        }
        if cx.forge.is_org_member(item.repo.owner(), &c.author).await? {
            return Ok(None);
        }
        Ok(Some(Action::Comment {
            item: item.clone(),
            body: format_response(
                &c.author,
                &repeat_reply(repeat),
                &c.body,
                &c.html_url,
                cx.help_url,
            ),
        }))
    }
}

#[async_trait]
impl Plugin for SigMention {
    fn name(&self) -> &'static str {
        "sigmention"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Labels issues and pull requests that mention a SIG team (like `@kubernetes/sig-testing-bugs`) with `sig/<name>` (when the repository has that label) and, for bugs, feature-requests, api-reviews and proposals teams, `kind/bug`, `kind/feature`, `kind/api-change` or `kind/design`. On GitHub the mentions of a writer outside the org are repeated, so the team is notified. The teams are found by the `regexp` setting.",
            commands: vec![],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        let parsed: SigMentionSettings = if settings.is_null() {
            SigMentionSettings::default()
        } else {
            serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?
        };
        parsed.compile().map(|_| ())
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        if !matches!(c.action, CommentAction::Created) || cx.is_bot(&c.author) {
            return Ok(vec![]);
        }
        let settings: SigMentionSettings = cx.settings()?;
        let re = settings.compile().map_err(PluginError::Config)?;
        let mentions = parse(&re, &c.body);
        if mentions.is_empty() {
            return Ok(vec![]);
        }
        let item = &c.item.reference;
        let item_labels = crate::forge::ForgeRead::labels(cx.forge, item).await?;
        let repo_labels = cx.forge.repo_labels(&item.repo).await?;
        let (add, repeat) = decide(&mentions, &item_labels, &repo_labels);
        let mut actions: Vec<Action> = add
            .into_iter()
            .map(|label| Action::AddLabel {
                item: item.clone(),
                label,
            })
            .collect();
        actions.extend(self.reply(c, cx, &repeat).await?);
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr, pr_ref};
    use crate::{ForgeRead, Login};
    use serde_json::json;

    fn default_re() -> Regex {
        SigMentionSettings::default().compile().expect("default")
    }

    fn forge() -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.repo_labels = vec!["sig/testing".into(), "SIG/Node".into(), "kind/bug".into()];
            s.org_members.insert(Login::new("member"));
        });
        forge
    }

    fn added(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::AddLabel { label, .. } => Some(label.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn finds_prows_mentions() {
        let found = parse(
            &default_re(),
            "cc @kubernetes/sig-testing-bugs and @kubernetes/sig-api-machinery-misc\n@kubernetes/sig-node-reviews",
        );
        assert_eq!(
            found,
            vec![
                Mention {
                    text: "@kubernetes/sig-testing-bugs".into(),
                    sig: "testing".into(),
                    kind: Some("bugs".into())
                },
                Mention {
                    text: "@kubernetes/sig-api-machinery-misc".into(),
                    sig: "api-machinery".into(),
                    kind: Some("misc".into())
                },
            ]
        );
        assert!(parse(&default_re(), "@my-group/sig-testing-bugs").is_empty());
    }

    #[test]
    fn kinds_follow_prow() {
        assert_eq!(kind_label("bugs"), Some("kind/bug"));
        assert_eq!(kind_label("feature-requests"), Some("kind/feature"));
        assert_eq!(kind_label("api-reviews"), Some("kind/api-change"));
        assert_eq!(kind_label("proposals"), Some("kind/design"));
        assert_eq!(kind_label("misc"), None);
        assert_eq!(kind_label("pr-reviews"), None);
    }

    #[test]
    fn only_labels_the_repository_has_and_not_twice() {
        let mentions = parse(
            &default_re(),
            "@kubernetes/sig-node-bugs @kubernetes/sig-testing-feature-requests @kubernetes/sig-apps-bugs @kubernetes/sig-node-misc",
        );
        let (add, repeat) = decide(
            &mentions,
            &["kind/bug".to_string()],
            &["sig/testing".into(), "SIG/Node".into()],
        );
        assert_eq!(add, vec!["SIG/Node", "sig/testing", "kind/feature"]);
        assert_eq!(
            repeat,
            vec![
                "@kubernetes/sig-node-bugs",
                "@kubernetes/sig-testing-feature-requests",
                "@kubernetes/sig-node-misc"
            ]
        );
    }

    #[tokio::test]
    async fn a_members_mention_labels_without_a_reply() {
        let actions = forge()
            .run(
                &SigMention,
                &comment_on_pr("member", "@kubernetes/sig-testing-bugs please look"),
            )
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![
                Action::AddLabel {
                    item: pr_ref(),
                    label: "sig/testing".into()
                },
                Action::AddLabel {
                    item: pr_ref(),
                    label: "kind/bug".into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn an_outsiders_mention_is_repeated() {
        let actions = forge()
            .run(
                &SigMention,
                &comment_on_pr("outsider", "@kubernetes/sig-node-misc"),
            )
            .await
            .expect("handled");
        assert_eq!(added(&actions), vec!["SIG/Node"]);
        assert!(matches!(
            &actions[..],
            [_, Action::Comment { body, .. }]
                if body.starts_with("@outsider: Reiterating the mentions to trigger a notification: \n@kubernetes/sig-node-misc\n")
        ));
    }

    #[tokio::test]
    async fn a_configured_regexp_reads_gitlab_groups() {
        let settings = json!({ "regexp": r"(?m)@acme/sig-([\w-]*)-(bugs|misc)" });
        let actions = forge()
            .run_with(
                &SigMention,
                &comment_on_pr("member", "@acme/sig-testing-bugs @kubernetes/sig-node-bugs"),
                &settings,
            )
            .await
            .expect("handled");
        assert_eq!(added(&actions), vec!["sig/testing", "kind/bug"]);
    }

    #[tokio::test]
    async fn unknown_sigs_and_bots_change_nothing() {
        let forge = forge();
        let unknown = comment_on_pr("outsider", "@kubernetes/sig-apps-bugs");
        assert!(
            forge
                .run(&SigMention, &unknown)
                .await
                .expect("ok")
                .is_empty()
        );
        let bot = forge.bot_login().await.expect("bot");
        let own = comment_on_pr(bot.as_str(), "@kubernetes/sig-testing-bugs");
        assert!(forge.run(&SigMention, &own).await.expect("ok").is_empty());
    }

    #[test]
    fn settings_are_checked() {
        assert!(SigMention.check_settings(&serde_json::Value::Null).is_ok());
        assert!(
            SigMention
                .check_settings(&json!({ "regexp": r"@x/sig-(\w+)" }))
                .is_ok()
        );
        assert!(
            SigMention
                .check_settings(&json!({ "regexp": "(" }))
                .is_err()
        );
        assert!(
            SigMention
                .check_settings(&json!({ "regexp": "@x/sig-" }))
                .is_err()
        );
        assert!(SigMention.check_settings(&json!({ "re": "x" })).is_err());
    }
}
