//! `transfer-issue`: `/transfer-issue <repo>` (or `/transfer <repo>`) on an issue moves it to
//! another repository of the same org (GitLab: the same group), as Prow's `transfer-issue`.
//! Only org members (GitLab: group members) may; others get Prow's "You must be an org member
//! to transfer this issue."; a destination that does not exist gets "Something went wrong or
//! the destination repo org/x does not exist."; more than one command, or none naming a
//! repository, gets "/transfer-issue must only be used once and with a single destination
//! repo.". Pull/merge requests are ignored, as in Prow; no reply on success (the issue is gone).
//!
//! GitHub moves it with the GraphQL `transferIssue` mutation; GitLab with its issue move
//! (`POST /projects/:id/issues/:iid/move`), which leaves the old issue closed with a link to
//! the new one. Differences from Prow: quoted or code-block lines do nothing; the destination
//! may not contain `/` (it is always in the issue's own org).

use crate::command::command_text;
use crate::reply::format_response;
use crate::{
    Action, CommandHelp, CommentAction, Context, Event, ForgeKind, ItemKind, Plugin, PluginError,
    PluginHelp, RepoPath,
};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

static TRANSFER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?mi)^/transfer(?:-issue)?(?: +(.*))?$").expect("static regex"));

/// Prow's answer to a repeated or empty command.
pub const USAGE: &str =
    "/transfer-issue must only be used once and with a single destination repo.";
/// Prow's answer to someone outside the org.
pub const NOT_MEMBER: &str = "You must be an org member to transfer this issue.";

/// Prow's answer to a destination that does not exist.
pub fn no_such_repo(org: &str, name: &str) -> String {
    format!("Something went wrong or the destination repo {org}/{name} does not exist.")
}

/// What a comment asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferCommand {
    /// Move the issue to the repository of this name in the same org.
    To(String),
    /// Used more than once, or without a destination.
    Misused,
}

/// The command in `text`, if any.
pub fn parse(text: &str) -> Option<TransferCommand> {
    let found: Vec<Option<&str>> = TRANSFER
        .captures_iter(text)
        .map(|c| c.get(1).map(|m| m.as_str().trim()))
        .collect();
    match found.as_slice() {
        [] => None,
        [Some(dest)] if !dest.is_empty() => Some(TransferCommand::To(dest.to_string())),
        _ => Some(TransferCommand::Misused),
    }
}

/// The destination `name` in the org of `from`, when it can name a repository there.
pub fn destination(from: &RepoPath, name: &str) -> Option<RepoPath> {
    if name.contains('/') || name.contains(char::is_whitespace) {
        return None;
    }
    RepoPath::parse(&format!("{}/{name}", from.owner()))
}

/// The transfer-issue plugin.
pub struct TransferIssue;

#[async_trait]
impl Plugin for TransferIssue {
    fn name(&self) -> &'static str {
        "transfer-issue"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Moves an issue to another repository of the same org (GitLab: group).",
            commands: vec![CommandHelp {
                usage: "/transfer[-issue] <destination repo in same org>",
                description: "Transfers an issue to a different repo in the same org.",
                examples: vec!["/transfer-issue kubectl", "/transfer test-infra"],
                who_can_use: "Org members (GitLab: group members).",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        let item = &c.item.reference;
        if item.kind != ItemKind::Issue
            || !matches!(c.action, CommentAction::Created)
            || cx.is_bot(&c.author)
        {
            return Ok(vec![]);
        }
        let Some(cmd) = parse(&command_text(c)) else {
            return Ok(vec![]);
        };
        let reply = |text: &str| {
            Ok(vec![Action::Comment {
                item: item.clone(),
                body: format_response(&c.author, text, &c.body, &c.html_url, cx.help_url),
            }])
        };
        let TransferCommand::To(name) = cmd else {
            return reply(USAGE);
        };
        let org = item.repo.owner();
        let to = match destination(&item.repo, &name) {
            Some(to) if cx.forge.repo_exists(&to).await? => to,
            _ => return reply(&no_such_repo(org, &name)),
        };
        if !cx.forge.is_org_member(org, &c.author).await? {
            return reply(NOT_MEMBER);
        }
        if to == item.repo {
            return Ok(vec![]);
        }
        Ok(vec![Action::TransferIssue {
            item: item.clone(),
            to,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Login;
    use crate::testing::{MemoryForge, comment_on_pr};

    /// `comment_on_pr`'s item turned into an issue.
    fn on_issue(author: &str, body: &str) -> Event {
        let mut ev = comment_on_pr(author, body);
        if let Event::Comment(c) = &mut ev {
            c.item.reference.kind = ItemKind::Issue;
        }
        ev
    }

    fn forge() -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.other_repos.insert("org/kubectl".into());
            s.org_members.insert(Login::new("member"));
        });
        forge
    }

    fn replied(actions: &[Action], text: &str) -> bool {
        matches!(actions, [Action::Comment { body, .. }] if body.contains(text))
    }

    #[test]
    fn parses_like_prow() {
        assert_eq!(
            parse("/transfer-issue kubectl"),
            Some(TransferCommand::To("kubectl".into()))
        );
        assert_eq!(
            parse("/TRANSFER  test-infra "),
            Some(TransferCommand::To("test-infra".into()))
        );
        assert_eq!(parse("/transfer-issue"), Some(TransferCommand::Misused));
        assert_eq!(
            parse("/transfer a\n/transfer b"),
            Some(TransferCommand::Misused)
        );
        assert_eq!(parse("/transfers x"), None);
        assert_eq!(parse("please /transfer x"), None);
    }

    #[test]
    fn the_destination_stays_in_the_org() {
        let from = RepoPath::parse("group/sub/project").expect("path");
        assert_eq!(
            destination(&from, "other").map(|r| r.to_string()),
            Some("group/sub/other".into())
        );
        assert_eq!(destination(&from, "elsewhere/x"), None);
        assert_eq!(destination(&from, "a b"), None);
    }

    #[tokio::test]
    async fn a_member_moves_the_issue() {
        let actions = forge()
            .run(
                &TransferIssue,
                &on_issue("member", "/transfer-issue kubectl"),
            )
            .await
            .expect("handled");
        let to = RepoPath::parse("org/kubectl").expect("path");
        assert!(
            matches!(&actions[..], [Action::TransferIssue { item, to: t }] if item.kind == ItemKind::Issue && *t == to),
            "{actions:?}"
        );
    }

    #[tokio::test]
    async fn refusals_follow_prow() {
        let forge = forge();
        let outsider = forge
            .run(&TransferIssue, &on_issue("outsider", "/transfer kubectl"))
            .await
            .expect("handled");
        assert!(replied(&outsider, &format!("@outsider: {NOT_MEMBER}")));
        let missing = forge
            .run(&TransferIssue, &on_issue("member", "/transfer nope"))
            .await
            .expect("handled");
        assert!(replied(
            &missing,
            "Something went wrong or the destination repo org/nope does not exist."
        ));
        let twice = forge
            .run(
                &TransferIssue,
                &on_issue("member", "/transfer a\n/transfer b"),
            )
            .await
            .expect("handled");
        assert!(replied(&twice, USAGE));
    }

    #[tokio::test]
    async fn pull_requests_are_ignored() {
        let actions = forge()
            .run(
                &TransferIssue,
                &comment_on_pr("member", "/transfer kubectl"),
            )
            .await
            .expect("handled");
        assert!(actions.is_empty());
    }
}
