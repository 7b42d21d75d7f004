//! `invalidcommitmsg`: commit messages (title line or body) and PR titles must not carry
//! `@mentions` or keywords that close issues (`fixes #1`, `Closes org/repo#2`): merged into a
//! branch they would ping people on every rebase or close issues by accident. While any
//! commit or the title does, the PR carries `do-not-merge/invalid-commit-message` and one
//! comment listing what to fix; when nothing does, both go.
//!
//! Runs when a PR is opened, reopened, pushed to or edited (its title may have changed), as
//! Prow. No commands; nobody needs permission.
//!
//! Differences from Prow: Prow's current plugin has dropped the `@mention` rule that issue 16
//! (and Prow before 2024) asks for; bosun keeps it (`\B@[\w_-]+`, so an email address in a
//! trailer is no mention). The optional fixup!/squash! check (an environment switch in Prow)
//! is not offered. The comment is one notice edited in place (Prow's own, found by its
//! `<!-- [prow:invalid-commit-message] -->` marker, is taken over).

use crate::dco::{repo_web, sha_list};
use crate::reply::format_simple;
use crate::{
    Action, CommandHelp, Context, Event, ForgeKind, ItemRef, ItemState, Plugin, PluginError,
    PluginHelp, PrAction, forge::PrCommit,
};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

/// The label of a PR with an invalid commit message or title.
pub const LABEL: &str = "do-not-merge/invalid-commit-message";
/// The marker Prow's comment opens with; its comments on the same account are taken over.
pub const PROW_MARKER: &str = "<!-- [prow:invalid-commit-message] -->";
/// The name of bosun's notice.
const NOTICE: &str = "invalidcommitmsg";

/// Prow's `CloseIssueRegex`, with Go's ASCII `\s`, `\w` and `\d`.
static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"((?i)(clos(?:e[sd]?))|(fix(?:(es|ed)?))|(resolv(?:e[sd]?)))[\t\n\x0C\r :]+([0-9A-Za-z_]+/[0-9A-Za-z_]+)?#([0-9]+)",
    )
    .expect("static regex")
});
/// Prow's `AtMentionRegex` `\B([@][\w_-]+)`: `@` is no word character, so `\B` before it
/// means the text starts there or a non-word character comes first.
static MENTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^0-9A-Za-z_])@[0-9A-Za-z_-]+").expect("static regex"));

/// Whether a commit message or title mentions someone or closes an issue.
pub fn is_invalid(text: &str) -> bool {
    CLOSING.is_match(text) || MENTION.is_match(text)
}

/// The notice's text (without its footer), or `None` when nothing is invalid.
pub fn notice(invalid: &[&PrCommit], title_invalid: bool, list: &str) -> Option<String> {
    let mut sections = Vec::new();
    if !invalid.is_empty() {
        sections.push(format!(
            "### Invalid commit messages\n\n[Keywords](https://help.github.com/articles/closing-issues-using-keywords) which can automatically close issues and at(@) or hashtag(#) mentions are not allowed in commit messages.\n\n**The list of commits with invalid commit messages**:\n\n{list}"
        ));
    }
    if title_invalid {
        sections.push(
            "### Invalid PR title\n\n[Keywords](https://help.github.com/articles/closing-issues-using-keywords) which can automatically close issues and at(@) mentions are not allowed in the title of a Pull Request.\n\nYou can edit the title by writing **/retitle <new-title>** in a comment.".to_string(),
        );
    }
    if sections.is_empty() {
        return None;
    }
    Some(format!(
        "Invalid commit message issues detected\n\n{}",
        sections.join("\n\n")
    ))
}

/// What the plugin read about the PR.
#[derive(Debug)]
pub struct Facts<'a> {
    /// The PR checked.
    pub item: &'a ItemRef,
    /// Its title, checked like a commit message (it becomes the merge commit's).
    pub title: &'a str,
    /// Its labels now, so the label is added or removed only when needed.
    pub labels: &'a [String],
    /// Its commits.
    pub commits: &'a [PrCommit],
    /// The repository's web page, for commit links.
    pub web: Option<&'a str>,
    /// bosun's command-help page, for the comment's footer.
    pub help_url: &'a str,
}

/// The label and notice actions for what the PR's commits and title say.
pub fn decide(facts: &Facts<'_>) -> Vec<Action> {
    let item = facts.item;
    let invalid: Vec<&PrCommit> = facts
        .commits
        .iter()
        .filter(|c| is_invalid(&c.message))
        .collect();
    let title_invalid = is_invalid(facts.title);
    let labelled = facts.labels.iter().any(|l| l.eq_ignore_ascii_case(LABEL));
    let list = sha_list(&invalid, facts.web, item.forge);
    match notice(&invalid, title_invalid, &list) {
        Some(text) => {
            let mut out = Vec::new();
            if !labelled {
                out.push(Action::AddLabel {
                    item: item.clone(),
                    label: LABEL.into(),
                });
            }
            out.push(Action::UpsertBotComment {
                item: item.clone(),
                marker: NOTICE.into(),
                body: format_simple(&text, facts.help_url),
                adopt: Some(PROW_MARKER.into()),
            });
            out
        }
        None => {
            let mut out = Vec::new();
            if labelled {
                out.push(Action::RemoveLabel {
                    item: item.clone(),
                    label: LABEL.into(),
                });
            }
            out.push(Action::DeleteBotComment {
                item: item.clone(),
                marker: NOTICE.into(),
                adopt: Some(PROW_MARKER.into()),
            });
            out
        }
    }
}

/// The invalidcommitmsg plugin.
pub struct InvalidCommitMsg;

#[async_trait]
impl Plugin for InvalidCommitMsg {
    fn name(&self) -> &'static str {
        "invalidcommitmsg"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Labels pull requests whose commit messages or title contain @mentions or keywords that close issues `do-not-merge/invalid-commit-message`, with a comment listing them; both go once nothing does.",
            commands: vec![CommandHelp {
                usage: "(no command)",
                description: "Adds or removes `do-not-merge/invalid-commit-message` as the commits and title change.",
                examples: vec![],
                who_can_use: "—",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::PullRequest(p) = event else {
            return Ok(vec![]);
        };
        if !matches!(
            p.action,
            PrAction::Opened
                | PrAction::Reopened
                | PrAction::Synchronized { .. }
                | PrAction::Edited
        ) {
            return Ok(vec![]);
        }
        let item = &p.pr.reference;
        let pr = cx.forge.pull_request(item).await?;
        if pr.state != ItemState::Open {
            return Ok(vec![]);
        }
        let commits = cx.forge.pr_commits(item).await?;
        Ok(decide(&Facts {
            item,
            title: &pr.title,
            labels: &pr.labels,
            commits: &commits,
            web: repo_web(&p.pr.html_url, item.forge),
            help_url: cx.help_url,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, commit, pr_event};

    #[test]
    fn mentions_and_closing_keywords_are_invalid_as_in_prow() {
        for bad in [
            "Fixes #12",
            "fix: parser\n\nThis fixes #3 for good",
            "Closes org/repo#7",
            "resolved: #1",
            "Thanks @alice for the idea",
            "@bob please look",
            "Cc: @team-x",
        ] {
            assert!(is_invalid(bad), "{bad:?}");
        }
        for good in [
            "Fix the parser",
            "Refs #12 (no closing keyword)",
            "prefix#12",
            "Signed-off-by: alice <alice@example.com>",
            "mail me at a@b.c",
            "Fixed a bug in #parse",
        ] {
            assert!(!is_invalid(good), "{good:?}");
        }
    }

    #[tokio::test]
    async fn an_invalid_commit_or_title_labels_and_lists_and_a_fix_cleans_up() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.pr_commits = vec![
                commit("aaaaaaa1", "alice", "Good commit"),
                commit("bbbbbbb2", "alice", "Parser fix\n\nfixes #4"),
            ];
            s.pr.title = "Ping @carol".into();
        });
        let push = pr_event(PrAction::Synchronized { before: None });
        let actions = forge.run(&InvalidCommitMsg, &push).await.expect("handled");
        assert!(matches!(&actions[0], Action::AddLabel { label, .. } if label == LABEL));
        let Action::UpsertBotComment { body, adopt, .. } = &actions[1] else {
            panic!("a notice: {actions:?}")
        };
        assert_eq!(adopt.as_deref(), Some(PROW_MARKER));
        assert!(
            body.contains("- [bbbbbbb](https://github.com/org/repo/commits/bbbbbbb2) Parser fix"),
            "{body}"
        );
        assert!(!body.contains("aaaaaaa"), "{body}");
        assert!(body.contains("### Invalid PR title"), "{body}");

        forge.with(|s| {
            s.pr_commits = vec![commit("ccccccc3", "alice", "Parser fix")];
            s.pr.title = "A fine title".into();
            s.pr.labels = vec![LABEL.into()];
        });
        let actions = forge.run(&InvalidCommitMsg, &push).await.expect("handled");
        assert!(matches!(&actions[0], Action::RemoveLabel { label, .. } if label == LABEL));
        assert!(matches!(&actions[1], Action::DeleteBotComment { .. }));
    }

    #[tokio::test]
    async fn only_the_title_can_make_it_invalid_and_other_events_do_nothing() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.pr_commits = vec![commit("aaaaaaa1", "alice", "Good commit")];
            s.pr.title = "Closes #9".into();
            s.pr.labels = vec![LABEL.into()];
        });
        let actions = forge
            .run(&InvalidCommitMsg, &pr_event(PrAction::Edited))
            .await
            .expect("handled");
        assert_eq!(actions.len(), 1, "already labelled: only the notice");
        let Action::UpsertBotComment { body, .. } = &actions[0] else {
            panic!("{actions:?}")
        };
        assert!(!body.contains("### Invalid commit messages"), "{body}");
        assert!(
            forge
                .run(&InvalidCommitMsg, &pr_event(PrAction::Assigned))
                .await
                .expect("ok")
                .is_empty()
        );
    }
}
